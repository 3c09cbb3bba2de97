/**
 * A JSON request's images and options: the body parsed, its form checked and its base64 decoded.
 * Plain work on bytes, with no state, so that a large body's can run on a thread of its own
 * (json-images-thread.ts) and a small one's where it is.
 */
import { tooLarge } from '../shared/image-limit.js';
import { decodeBase64Image } from './base64-image.js';
import { HttpError } from './failure.js';

export interface JsonImages {
  images: Buffer[];
  /** The request's `options`, or {} without them. */
  options: Record<string, unknown>;
}

export const tooMany = (maxImages: number): string => `more than ${maxImages} images in one request, this server's limit: split the batch`;

/** What `body` asks for: `{"image": ...}` or, `many`, `{"images": [...]}`; 400 or 413 for anything else. */
export function jsonImages(body: Uint8Array, many: boolean, maxImages: number, maxBytes: number): JsonImages {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, 'INVALID_ARGUMENT', `the body is not valid JSON: ${(err as Error).message}`);
  }
  // Anything but an object is the wrong JSON.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const what = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`;
    const shape = many ? '{"images": ["<base64>", ...], "options": {...}}' : '{"image": "<base64>", "options": {...}}';
    throw new HttpError(400, 'INVALID_ARGUMENT', `the JSON body is ${what}; send an object: ${shape}`);
  }
  const { image, images, options, ...rest } = parsed as Record<string, unknown>;
  if (Object.keys(rest).length > 0) {
    throw new HttpError(
      400,
      'INVALID_ARGUMENT',
      `unknown field${Object.keys(rest).length > 1 ? 's' : ''} ${Object.keys(rest).join(', ')}; send "image" (base64) and "options"`,
    );
  }
  const encoded = many ? images : image;
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
