// An image as the server reads it: the server turns every JPEG, PNG and WebP by its EXIF orientation
// (sharp's rotate()), a browser only those of the formats it chooses (Chromium no WebP's). Shown as
// stored, a WebP turned 180° had every box drawn over the wrong part of the picture: its size alone
// does not tell, so the orientation is read from the file and, where the browser does not apply it,
// the picture is turned here.

/** The formats whose orientation the server applies and a browser may not. */
const ORIENTED_TYPES = ['image/jpeg', 'image/png', 'image/webp'];

const EXIF_ORIENTATION_TAG = 0x0112;

/** The segments or chunks read in search of the EXIF block: a file has a handful before it; a malformed one is not read to its end by parts of a few bytes. */
const MAX_PARTS = 256;

/** The ASCII text of `length` bytes at `at`. */
const ascii = (bytes, at, length) => String.fromCharCode(...bytes.subarray(at, at + length));

const viewOf = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * `length` bytes of the file from `at`, fewer past its end. The file is read by parts: read whole, a
 * folder of a thousand photos dropped held them all in memory at once.
 */
const read = async (file, at, length) => new Uint8Array(await file.slice(at, at + length).arrayBuffer());

/** The EXIF block at `tiff` in the file (from its TIFF header on), with the PNG chunk that holds it, whose CRC covers it. */
const exifAt = async (file, tiff, length, chunk) => ({ bytes: await read(file, tiff, length), tiff, chunk });

/** The EXIF block of a JPEG, PNG or WebP file, found by its segments or chunks; undefined where it has none. */
async function exifBlock(file) {
  const head = await read(file, 0, 12);
  if (head.length < 12) return undefined;
  if (viewOf(head).getUint16(0) === 0xffd8) {
    // JPEG: segments of a marker and a big-endian length up to the scan's, EXIF's an APP1 starting "Exif\0\0".
    for (let at = 2, part = 0; part < MAX_PARTS; part += 1) {
      const segment = await read(file, at, 10);
      if (segment.length < 10 || segment[0] !== 0xff || segment[1] === 0xda) return undefined;
      const length = viewOf(segment).getUint16(2);
      if (segment[1] === 0xe1 && ascii(segment, 4, 6) === 'Exif\0\0') return exifAt(file, at + 10, length - 8);
      at += 2 + length;
    }
  }
  if (ascii(head, 1, 3) === 'PNG') {
    // PNG: chunks of a big-endian length, type, data and CRC after the signature; an eXIf after the pixels is not read.
    for (let at = 8, part = 0; part < MAX_PARTS; part += 1) {
      const chunk = await read(file, at, 8);
      if (chunk.length < 8 || ascii(chunk, 4, 4) === 'IDAT') return undefined;
      const length = viewOf(chunk).getUint32(0);
      if (ascii(chunk, 4, 4) === 'eXIf') return exifAt(file, at + 8, length, { at: at + 4, end: at + 8 + length });
      at += 12 + length;
    }
  }
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 4) === 'WEBP') {
    // WebP: chunks of type, little-endian size and data padded to an even length, EXIF's mostly after the pixels.
    for (let at = 12, part = 0; part < MAX_PARTS; part += 1) {
      const chunk = await read(file, at, 14);
      if (chunk.length < 8) return undefined;
      const size = viewOf(chunk).getUint32(4, true);
      if (ascii(chunk, 0, 4) === 'EXIF') {
        // Its data may start "Exif\0\0", as a JPEG's APP1 does.
        const skip = ascii(chunk, 8, 6) === 'Exif\0\0' ? 6 : 0;
        return exifAt(file, at + 8 + skip, size - skip);
      }
      at += 8 + size + (size & 1);
    }
  }
  return undefined;
}

/**
 * The orientation in an EXIF block (IFD0's tag 0x0112, a 16-bit number), where it lies in the file, its
 * byte order and the PNG chunk holding it; undefined where the block has none.
 */
function orientationField({ bytes, tiff, chunk }) {
  if (bytes.length < 8) return undefined;
  const view = viewOf(bytes);
  const little = ascii(bytes, 0, 2) === 'II';
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > bytes.length) return undefined;
  for (let entry = ifd + 2, n = view.getUint16(ifd, little); n > 0 && entry + 12 <= bytes.length; entry += 12, n -= 1) {
    if (view.getUint16(entry, little) === EXIF_ORIENTATION_TAG) {
      return { value: view.getUint16(entry + 8, little), at: tiff + entry + 8, little, chunk };
    }
  }
  return undefined;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** PNG's CRC-32 of `bytes`. */
function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A copy of the file with its orientation set to `orientation` (a PNG's chunk checksum made anew, which a browser checks). */
function withOrientation(bytes, field, orientation) {
  const copy = bytes.slice();
  const view = new DataView(copy.buffer);
  view.setUint16(field.at, orientation, field.little);
  if (field.chunk) view.setUint32(field.chunk.end, crc32(copy.subarray(field.chunk.at, field.chunk.end)));
  return copy;
}

/** The size a browser shows an image at; undefined where it cannot read it. */
function shownSize(blob) {
  const img = new Image();
  const url = URL.createObjectURL(blob);
  return new Promise((resolve) => {
    img.onload = () => resolve({ width: img.naturalWidth, height: img.naturalHeight });
    img.onerror = () => resolve(undefined);
    img.src = url;
  }).finally(() => URL.revokeObjectURL(url));
}

/** Whether this browser applies the EXIF orientation of files of a type, once learnt: the same for all of them. */
const appliedByType = new Map();

/**
 * Whether this browser applies the file's orientation: the file set to a quarter turn (6) shown at its
 * size set to none (1), sides swapped, says yes. Undefined where that cannot tell (a square image).
 */
async function browserApplies(file, field) {
  if (appliedByType.has(file.type)) return appliedByType.get(file.type);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const shown = (orientation) => shownSize(new Blob([withOrientation(bytes, field, orientation)], { type: file.type }));
  const [upright, quarter] = await Promise.all([shown(1), shown(6)]);
  if (!upright || !quarter || upright.width === upright.height) return undefined;
  const applies = quarter.width === upright.height && quarter.height === upright.width;
  appliedByType.set(file.type, applies);
  return applies;
}

/** The canvas transform (a, b, c, d, e, f) that shows an image stored `width` × `height` as its EXIF orientation says. */
const TRANSFORMS = {
  2: (width) => [-1, 0, 0, 1, width, 0],
  3: (width, height) => [-1, 0, 0, -1, width, height],
  4: (_, height) => [1, 0, 0, -1, 0, height],
  5: () => [0, 1, 1, 0, 0, 0],
  6: (_, height) => [0, 1, -1, 0, height, 0],
  7: (width, height) => [0, -1, -1, 0, height, width],
  8: (width) => [0, -1, 1, 0, 0, width],
};

/** The image turned (or mirrored) as its orientation says, on white as the page shows every image: a JPEG, quick to make of a photo. */
async function turned(file, orientation) {
  const bitmap = await createImageBitmap(file);
  const { width, height } = bitmap;
  const quarter = orientation >= 5;
  const canvas = Object.assign(document.createElement('canvas'), { width: quarter ? height : width, height: quarter ? width : height });
  const context = canvas.getContext('2d');
  context.fillStyle = '#fff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.setTransform(...TRANSFORMS[orientation](width, height));
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('the browser could not turn the image'))), 'image/jpeg', 0.92),
  );
}

/**
 * What to show of the file so that the server's boxes lie on it: the file itself, or where this browser
 * does not apply its EXIF orientation, a copy turned as the server turns it. Never rejects.
 */
export async function pictureAsRead(file) {
  if (!ORIENTED_TYPES.includes(file.type)) return file;
  try {
    const block = await exifBlock(file);
    const field = block && orientationField(block);
    if (!field || !Object.hasOwn(TRANSFORMS, field.value) || (await browserApplies(file, field)) !== false) return file;
    return await turned(file, field.value);
  } catch {
    // Unreadable or malformed: shown as the browser shows it, as before (checkShownTurned still catches a quarter turn).
    return file;
  }
}
