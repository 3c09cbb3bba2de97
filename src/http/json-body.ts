/**
 * A JSON request body, let through to be parsed only once its structure is known to be as small as
 * this API's requests are: an image or a list of line images as base64 strings, and a few options.
 * JSON.parse builds every array, object and element it meets, and holds them all: a 40 MB body of
 * `[{},{},…]` (14 million objects) took 10 s on the main thread, during which no other call was
 * answered, and 1.5 GB of memory. It is parsed with the route's rules known (readJsonImages), a
 * large one on a thread of its own.
 */
import { HttpError } from './failure.js';

/** The bytes that open a value or separate two ('{', '[', ','): each array, object and element past the first costs one. */
const STRUCTURE = [0x7b, 0x5b, 0x2c];

/**
 * Occurrences of STRUCTURE in `body`, counted natively (indexOf, at memchr speed) up to
 * `stopAfter + 1`: on the bytes, before they are made a string (a 40 MB one took 0.2 s to decode).
 */
function countStructure(body: Buffer, stopAfter: number): number {
  let count = 0;
  for (const byte of STRUCTURE) {
    for (let at = body.indexOf(byte); at >= 0 && count <= stopAfter; at = body.indexOf(byte, at + 1)) count++;
  }
  return count;
}

/**
 * Room for what a request's options hold beside its images (a few numbers and flags; a comma in a
 * string counts too), far beyond any real request.
 */
const OPTIONS_STRUCTURE = 1024;

/** A JSON body's bytes, still to be parsed: what the application/json parser gives its route. */
export class JsonBody {
  constructor(readonly bytes: Buffer) {}
}

/**
 * `body`, where it holds at most `maxImages` images' worth of arrays, objects and elements beside
 * its options; 400 INVALID_ARGUMENT, before parsing, for one that holds more.
 */
export function checkJsonBody(body: Buffer, maxImages: number): JsonBody {
  const limit = maxImages + OPTIONS_STRUCTURE;
  if (countStructure(body, limit) > limit) {
    throw new HttpError(
      400,
      'INVALID_ARGUMENT',
      `the JSON body holds more than ${limit} arrays, objects and elements, far more than any request to this API: ` +
        'send {"image": "<base64>", "options": {...}} (to /api/ocr/lines, {"images": ["<base64>", ...], "options": {...}})',
    );
  }
  return new JsonBody(body);
}
