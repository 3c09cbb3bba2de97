/** What a JPEG's marker segments say before any pixel is decoded. */
export interface JpegHeader {
  width: number;
  height: number;
  /** Bits per sample. */
  precision: number;
  /** 1 gray, 3 YCbCr (or RGB), 4 CMYK or YCCK. */
  components: number;
  /** The frame's SOF marker: 0xc0 baseline, 0xc1 extended, 0xc2 progressive; others are lossless or arithmetic coded. */
  frameMarker: number;
  /** APP1 Exif (may hold an orientation), APP2 ICC profile, APP14 Adobe (colour transform). */
  exif: boolean;
  icc: boolean;
  adobe: boolean;
  /** The bytes end in the EOI marker: a file cut short does not. */
  complete: boolean;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
/** Start-of-frame markers: 0xc0–0xcf but for DHT (c4), JPG (c8) and DAC (cc). */
const isFrameMarker = (m: number): boolean => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
/** Markers without a length: RSTn and TEM. */
const isStandalone = (m: number): boolean => (m >= 0xd0 && m <= 0xd7) || m === 0x01;

const startsWithText = (data: Uint8Array, text: string): boolean =>
  data.length >= text.length && [...text].every((c, i) => data[i] === c.charCodeAt(0));

/**
 * The header of a JPEG, by walking its marker segments from SOI to the first SOS (no decoding);
 * null when the bytes are not a JPEG with a well-formed segment sequence and a frame header there.
 */
export function readJpegHeader(buf: Uint8Array): JpegHeader | null {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== SOI) return null;
  const header = { exif: false, icc: false, adobe: false, complete: buf[buf.length - 2] === 0xff && buf[buf.length - 1] === EOI };
  let frame: Pick<JpegHeader, 'width' | 'height' | 'precision' | 'components' | 'frameMarker'> | null = null;
  let at = 2;
  while (at < buf.length) {
    if (buf[at] !== 0xff) return null;
    while (buf[at] === 0xff) at++; // fill bytes
    const marker = buf[at++];
    if (marker === undefined || marker === SOI || marker === EOI) return null;
    if (isStandalone(marker)) continue;
    if (at + 2 > buf.length) return null;
    const length = (buf[at]! << 8) | buf[at + 1]!;
    if (length < 2 || at + length > buf.length) return null;
    const data = buf.subarray(at + 2, at + length);
    if (marker === SOS) return frame && { ...frame, ...header };
    if (isFrameMarker(marker)) {
      if (data.length < 6) return null;
      frame = {
        precision: data[0]!,
        height: (data[1]! << 8) | data[2]!,
        width: (data[3]! << 8) | data[4]!,
        components: data[5]!,
        frameMarker: marker,
      };
    } else if (marker === 0xe1 && startsWithText(data, 'Exif\0')) {
      header.exif = true;
    } else if (marker === 0xe2 && startsWithText(data, 'ICC_PROFILE\0')) {
      header.icc = true;
    } else if (marker === 0xee && startsWithText(data, 'Adobe')) {
      header.adobe = true;
    }
    at += length;
  }
  return null;
}

/**
 * A JPEG that decodePlainJpeg reads exactly as sharp does: 8-bit gray or YCbCr, Huffman coded
 * (baseline, extended or progressive), complete, with no EXIF orientation to apply, no ICC profile
 * to convert from and no Adobe colour transform. A zero height (set later by a DNL marker) is left
 * to sharp too.
 */
export function isPlainJpeg(header: JpegHeader): boolean {
  const { precision, components, frameMarker, exif, icc, adobe, complete, height } = header;
  return (
    precision === 8 &&
    (components === 1 || components === 3) &&
    frameMarker >= 0xc0 &&
    frameMarker <= 0xc2 &&
    !exif &&
    !icc &&
    !adobe &&
    complete &&
    height > 0
  );
}
