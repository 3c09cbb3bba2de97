/**
 * A JSON request's images and options: the body parsed, its form checked and its base64 decoded.
 * Plain work on bytes, with no state, so that a large body's can run on a thread of its own
 * (json-images-thread.ts) and a small one's where it is.
 */
import { tooLarge } from '../shared/image-limit.js';
import { clipped } from '../shared/shown.js';
import { decodeBase64Image } from './base64-image.js';
import { CALL_PARAMETERS } from './call-terms.js';
import { HttpError } from './failure.js';
import { optionName } from './request-options.js';

export interface JsonImages {
  images: Buffer[];
  /** The request's `options`, or {} without them. */
  options: Record<string, unknown>;
}

export const tooMany = (maxImages: number): string => `more than ${maxImages} images in one request, this server's limit: split the batch`;

/** The field of a route's images: /api/ocr's one page, or /api/ocr/lines' line images. */
const imageField = (many: boolean): string => (many ? 'images' : 'image');

/** What a body is told that holds the other route's image field, which this route reads nothing from. */
const OTHER_ROUTE = {
  page: '"images" is /api/ocr/lines\' field, for line images: send the page in "image"',
  lines: '"image" is /api/ocr\'s field, for a page: send line images in "images"',
};

/** The unknown fields a refusal names: a body may hold a thousand. */
const LISTED_FIELDS = 8;

/** `keys` as a refusal lists them: the first LISTED_FIELDS, each clipped, and how many more there are. */
function listed(keys: string[]): string {
  const more = keys.length - LISTED_FIELDS;
  return [...keys.slice(0, LISTED_FIELDS).map(clipped), ...(more > 0 ? [`and ${more} more`] : [])].join(', ');
}

/**
 * Why a body with `keys` beside its images and options is refused, and where they go: the other
 * route's image field would be read by neither route, and an option or the call's own parameters
 * (timeout_ms, priority) are read from "options". Ignored, either would go unnoticed.
 */
function unknownFields(keys: string[], many: boolean): string {
  const field = imageField(many);
  const misplaced = keys.find((key) => optionName(key) !== undefined || CALL_PARAMETERS.has(key));
  const hints = [
    ...(keys.includes(imageField(!many)) ? [many ? OTHER_ROUTE.lines : OTHER_ROUTE.page] : []),
    ...(misplaced ? [`options, timeout_ms and priority go in "options": {"${field}": ..., "options": {"${misplaced}": ...}}`] : []),
  ];
  const own = many ? '"images" (base64 strings)' : '"image" (base64)';
  return [`unknown field${keys.length > 1 ? 's' : ''} ${listed(keys)}; send ${own} and "options"`, ...hints].join('; ');
}

const UTF8_BOM = [0xef, 0xbb, 0xbf];

/**
 * A JSON body's text. JSON is UTF-8 (RFC 8259); a byte-order mark before it, which Windows tools
 * write (PowerShell's Out-File, Set-Content -Encoding UTF8), is ignored, as the RFC lets a parser do,
 * where JSON.parse would refuse an invisible character. A body in UTF-16 or UTF-32 (a NUL among its
 * first two bytes, or UTF-16's mark) is refused saying so, rather than as a stray character.
 */
function jsonText(body: Uint8Array): string {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const [first, second] = bytes;
  if (first === 0 || second === 0 || (first === 0xff && second === 0xfe) || (first === 0xfe && second === 0xff)) {
    throw new HttpError(400, 'INVALID_ARGUMENT', 'the JSON body is in UTF-16 or UTF-32; send it in UTF-8, as JSON is (RFC 8259)');
  }
  return bytes.toString('utf8', UTF8_BOM.every((byte, i) => bytes[i] === byte) ? UTF8_BOM.length : 0);
}

/** What `body` asks for: `{"image": ...}` or, `many`, `{"images": [...]}`; 400 or 413 for anything else. */
export function jsonImages(body: Uint8Array, many: boolean, maxImages: number, maxBytes: number): JsonImages {
  const text = jsonText(body);
  const shape = many ? '{"images": ["<base64>", ...], "options": {...}}' : '{"image": "<base64>", "options": {...}}';
  // fetch() with the JSON type and the body forgotten: JSON.parse would say "Unexpected end of JSON input".
  if (text.trim() === '') throw new HttpError(400, 'INVALID_ARGUMENT', `the JSON body is empty; send ${shape}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'INVALID_ARGUMENT', `the body is not valid JSON: ${(err as Error).message}`);
  }
  // Anything but an object is the wrong JSON.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const what = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`;
    throw new HttpError(400, 'INVALID_ARGUMENT', `the JSON body is ${what}; send an object: ${shape}`);
  }
  const { [imageField(many)]: encoded, options, ...rest } = parsed as Record<string, unknown>;
  const unexpected = Object.keys(rest);
  if (unexpected.length > 0) throw new HttpError(400, 'INVALID_ARGUMENT', unknownFields(unexpected, many));
  const list = many ? (Array.isArray(encoded) ? encoded : null) : typeof encoded === 'string' ? [encoded] : null;
  if (!list || list.some((e) => typeof e !== 'string')) {
    throw new HttpError(
      400,
      'INVALID_ARGUMENT',
      many ? 'send "images": an array of base64 strings' : 'send "image": the file as a base64 string',
    );
  }
  if (list.length > maxImages) throw new HttpError(413, 'RESOURCE_EXHAUSTED', tooMany(maxImages));
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new HttpError(400, 'INVALID_ARGUMENT', '"options" must be an object of recognition options');
  }
  const decoded = list.map((e, i) => decodeBase64Image(e as string, many ? `images[${i}]` : 'image'));
  if (decoded.reduce((sum, one) => sum + one.length, 0) > maxBytes)
    throw new HttpError(413, 'RESOURCE_EXHAUSTED', tooLarge(maxBytes, many));
  return { images: decoded, options: (options ?? {}) as Record<string, unknown> };
}
