/**
 * An image sent in JSON as base64. Node's decoder skips whatever is not base64 and stops at the
 * first "=": alone, it would decode a pasted data: URL, two files run together or a string in
 * another encoding to stray bytes, answered as "not a JPEG, PNG, ..." or as "empty", which does
 * not say what is wrong. Accepted here: standard and URL-safe base64, with or without padding, with
 * line breaks (MIME, `base64` without -w0), behind a `data:...;base64,` prefix (a browser's
 * readAsDataURL).
 */
import { base64Image, FETCHES_NOTHING, webAddress } from '../shared/not-an-image.js';
import { HttpError } from './failure.js';

const DATA_URL = /^data:[^,]*;base64,/i;
/** A data: URL of any kind: without ;base64, its text is the bytes themselves, %-escaped. */
const ANY_DATA_URL = /^data:/i;
const NOT_BASE64 = /[^A-Za-z0-9+/_=\s-]/;
const PADDING_ONLY = /^[=\s]*$/;

/**
 * The bytes Node decodes from `body` when every character of it is base64: three for every four,
 * the padding aside; undefined for a length where a character stands alone, which Node drops.
 */
function decodedLength(body: string): number | undefined {
  let end = body.length;
  while (end > body.length - 2 && body.charCodeAt(end - 1) === 0x3d) end--;
  return end % 4 === 1 ? undefined : Math.floor((end * 3) / 4);
}

/**
 * `bytes`, unless they are base64 text of an image themselves: the file encoded twice (a base64
 * string, or a data: URL, encoded again), which the server would call "the base64 text of a PNG
 * image" and tell to send as JSON, as it was.
 */
function once(bytes: Buffer, what: string): Buffer {
  const inner = base64Image(bytes);
  if (inner === null) return bytes;
  throw new HttpError(
    400,
    'INVALID_ARGUMENT',
    `${what} is base64 twice over: decoded, it is the base64 text of a ${inner} image; send the file's bytes in base64 once`,
  );
}

/** The bytes `text` encodes; `what` names it in the error ("image", "images[2]"). */
export function decodeBase64Image(text: string, what: string): Buffer {
  const offset = DATA_URL.exec(text)?.[0].length ?? 0;
  if (offset === 0 && ANY_DATA_URL.test(text)) {
    throw new HttpError(
      400,
      'INVALID_ARGUMENT',
      `${what} is a data: URL without ;base64, which this API needs: send it as data:<type>;base64,<the file's bytes in base64> (as a browser's readAsDataURL gives it)`,
    );
  }
  const body = offset > 0 ? text.slice(offset) : text;
  const bytes = Buffer.from(body, 'base64');
  // As many bytes as its characters make: nothing was skipped. Fewer: line breaks, or what is
  // wrong, which only then costs a scan of the whole text.
  if (bytes.length === decodedLength(body)) return once(bytes, what);
  const refuse = (why: string): HttpError =>
    new HttpError(
      400,
      'INVALID_ARGUMENT',
      `${what} is not valid base64: ${why}; send the file's bytes in base64 (standard or URL-safe; a data: URL also does)`,
    );
  const address = webAddress(text.trim());
  if (address)
    throw new HttpError(400, 'INVALID_ARGUMENT', `${what} is the web address ${address}, not base64: ${FETCHES_NOTHING} in base64`);
  const bad = NOT_BASE64.exec(body);
  if (bad) throw refuse(`'${bad[0]}' at character ${offset + bad.index + 1}`);
  const padding = body.indexOf('=');
  if (padding >= 0 && !PADDING_ONLY.test(body.slice(padding))) throw refuse(`'=' at character ${offset + padding + 1}, before its end`);
  return once(bytes, what);
}
