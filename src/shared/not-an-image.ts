/**
 * What to tell a caller whose bytes are none of the formats read here (image-format.ts). Some files
 * are sent for an image often enough to be named, each with what to do instead: a PDF, a phone's
 * HEIC photo, an AVIF, a BigTIFF, an SVG, the image's base64 text, its file's name or web address;
 * any other is described by its first bytes. One message for the engine (gRPC) and the HTTP front door alike.
 */
import { sniffFormat, SUPPORTED_FORMATS } from './image-format.js';

/** The refusal of empty bytes: by the engine, and by the SDK's tiling before any call. */
export const EMPTY_IMAGE = 'image is empty: send the encoded file bytes in the "image" field';

/** A kind of file mistaken for an image: what it is, and what to send instead. */
interface OtherFile {
  what: string;
  instead: string;
}

const ascii = (buf: Uint8Array, from: number, to: number): string => Buffer.from(buf.subarray(from, to)).toString('latin1');

/** ISO base media brands (isoBrands) of the HEIF family that iPhones and others write, and of AVIF. */
const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);
const AVIF_BRANDS = new Set(['avif', 'avis', 'avio']);

const CONVERT = 'convert it to PNG or JPEG and send that';

/**
 * The brands of an ISO base media file (its ftyp box: the major brand, then the compatible ones),
 * the major first, up to its first 256 bytes; none where it has no ftyp box. Cameras write HEIF
 * under brands of their own ('MiHE', 'MiPr'), and list the family's among the compatible ones.
 */
function isoBrands(buf: Uint8Array): string[] {
  if (ascii(buf, 4, 8) !== 'ftyp') return [];
  const end = Math.min(buf.length, 256, Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).readUInt32BE(0));
  const compatible = Array.from({ length: Math.max(0, Math.floor((end - 16) / 4)) }, (_, i) => ascii(buf, 16 + 4 * i, 20 + 4 * i));
  return [ascii(buf, 8, 12), ...compatible];
}

/** An AVIF or HEIC/HEIF image by its brands (AVIF's are the narrower: an AVIF lists 'mif1' too); null for neither. */
function heifFamily(buf: Uint8Array): OtherFile | null {
  const brands = isoBrands(buf);
  if (brands.some((b) => AVIF_BRANDS.has(b))) return { what: 'an AVIF image', instead: CONVERT };
  if (brands.some((b) => HEIF_BRANDS.has(b))) return { what: 'a HEIC/HEIF image (as phones take photos)', instead: CONVERT };
  return null;
}

/** The file's text without a byte-order mark or leading white space, from its first KiB. */
const leadingText = (buf: Uint8Array): string =>
  ascii(buf, 0, 1024)
    .replace(/^\u00ef\u00bb\u00bf/, '')
    .trimStart();

/** The image a base64 text (or a data: URL) holds, judged by its first bytes; null when it is not one. */
export function base64Image(buf: Uint8Array): string | null {
  const text = leadingText(buf).replace(/^data:[^,]{0,100},/, '');
  if (!/^[A-Za-z0-9+/_-]{16}/.test(text)) return null;
  const format = sniffFormat(Buffer.from(text.slice(0, 16), 'base64'));
  return format && format.toUpperCase();
}

/**
 * A file's name or path sent in place of its bytes, as `curl -F image=scan.jpg` (without the @) and
 * Python requests' `files={'image': 'scan.jpg'}` send it: a short line ending in a file extension.
 */
const FILE_NAME = /^[^\p{Cc}"'=]{1,255}\.(?:jpe?g|png|webp|tiff?|gif|bmp|heic|heif|avif|pdf|svg)$/iu;

/** A web address sent in place of the image it names, as APIs that fetch images take one. */
const WEB_ADDRESS = /^(?:https?|ftp):\/\/\S+$/i;

/** The longest text read as a file's name or a web address: both are a line. */
const NAME_BYTES = 2048;

/** The text `buf` is, where it is short enough to be a file's name or a web address; null otherwise. */
function shortText(buf: Uint8Array): string | null {
  // UTF-8, as curl and requests send a name: 发票.jpg is read back as written.
  return buf.length > NAME_BYTES ? null : Buffer.from(buf).toString('utf8').trim();
}

/**
 * `address` without what may be a credential, which the answer and its log line would repeat: its
 * user and password, and its query (a presigned URL's signature), said as `?…`.
 */
const withoutCredentials = (address: string): string => address.replace(/^([^:]+:\/\/)[^/?#]*@/, '$1').replace(/[?#].*$/, '?…');

/** The web address `text` is, without credentials and cut to a readable length, or null. */
export function webAddress(text: string): string | null {
  if (!WEB_ADDRESS.test(text)) return null;
  const shown = withoutCredentials(text);
  return shown.length > 100 ? `${shown.slice(0, 100)}…` : shown;
}

/** What one who sends a web address is told: nothing is fetched from it. */
export const FETCHES_NOTHING = 'this server fetches no image from the web: download the file and send its bytes';

/** The kind of file `buf` is, where it is one that is often sent by mistake; null otherwise. */
export function otherFile(buf: Uint8Array): OtherFile | null {
  if (ascii(buf, 0, 5) === '%PDF-') {
    return {
      what: 'a PDF document',
      instead: 'send each page as an image (`pdftoppm -r 200 -png file.pdf page` writes page-1.png, page-2.png, ...)',
    };
  }
  const heif = heifFamily(buf);
  if (heif) return heif;
  if (ascii(buf, 0, 4) === 'II+\0' || ascii(buf, 0, 4) === 'MM\0+') {
    return {
      what: 'a BigTIFF image (a TIFF with 64-bit offsets)',
      instead: 'save it as a standard TIFF, PNG or JPEG and send that',
    };
  }
  if (ascii(buf, 0, 2) === '\xff\x0a' || ascii(buf, 4, 8) === 'JXL ') return { what: 'a JPEG XL image', instead: CONVERT };
  if (ascii(buf, 0, 4) === '\xff\x4f\xff\x51' || ascii(buf, 4, 8) === 'jP  ') return { what: 'a JPEG 2000 image', instead: CONVERT };
  const text = leadingText(buf);
  // Before its root element, an SVG may have an XML prolog, a comment (an editor's) or its DOCTYPE.
  if (/^<svg[\s>]/i.test(text) || (/^(<\?xml|<!--|<!doctype svg)/i.test(text) && /<svg[\s>]/i.test(text))) {
    return { what: 'an SVG (vector) image', instead: 'render it to PNG and send that' };
  }
  const encoded = base64Image(buf);
  if (encoded) {
    return {
      what: `the base64 text of a ${encoded} image`,
      instead: 'send the decoded bytes (over HTTP, JSON {"image": "<base64>"} takes the text as it is)',
    };
  }
  const short = shortText(buf);
  const address = short === null ? null : webAddress(short);
  if (address) return { what: `the web address ${address}`, instead: FETCHES_NOTHING };
  const name = short !== null && FILE_NAME.test(short) ? short : null;
  if (name) {
    return {
      what: `the text '${name}', a file's name rather than the file`,
      instead: `read the file and send its bytes (curl: -F image=@${name}, with the @; Python requests: files={'image': open('${name}', 'rb')})`,
    };
  }
  return null;
}

/**
 * The refusal of `buf`, which is none of SUPPORTED_FORMATS, as `subject` (the field, or "image"),
 * with `instead` as what to send where its kind is not one named above.
 */
export function notAnImage(subject: string, buf: Uint8Array, instead = 'send the encoded image file, not pixels or base64 text'): string {
  const other = otherFile(buf);
  if (other) return `${subject} is ${other.what}, not a ${SUPPORTED_FORMATS} file: ${other.instead}`;
  const start = Buffer.from(buf.subarray(0, 8)).toString('hex').replace(/(..)/g, '$1 ').trim();
  return `${subject} is not a ${SUPPORTED_FORMATS} file (${buf.length} bytes starting ${start}); ${instead}`;
}
