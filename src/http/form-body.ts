/**
 * A URL-encoded form (application/x-www-form-urlencoded) that carries an image as base64 text in a
 * field, as Python requests' `data={'image': b64}` sends it. The API reads a file from a multipart
 * form, the image as the body or base64 in JSON; such a form is none of them, and has no line
 * breaks, which alone would make it look like a file that `curl -d @file` stripped of them.
 */
import { base64Image } from '../shared/not-an-image.js';

/** The fields looked at: a form's options beside its image are a few. */
const FIELDS_LOOKED_AT = 32;

/**
 * The escaped start of a value that base64Image needs: 16 base64 characters behind a data: URL's
 * prefix, each escaped to 3 bytes at most.
 */
const VALUE_START_BYTES = 256;

const AMPERSAND = 0x26;
const EQUALS = 0x3d;

/**
 * `bytes` with their %XX escapes undone. A '+' stays one: a form escapes base64's own '+' as %2B,
 * and one sent unescaped (curl --data "image=$b64") is base64's rather than a space.
 */
const unescaped = (bytes: Uint8Array): string =>
  Buffer.from(bytes)
    .toString('latin1')
    .replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/** The first field of a URL-encoded `body` whose value is base64 text of an image, with that image's format; null for none. */
export function base64FormField(body: Uint8Array): { field: string; format: string } | null {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let start = 0;
  for (let seen = 0; seen < FIELDS_LOOKED_AT && start < bytes.length; seen++) {
    const next = bytes.indexOf(AMPERSAND, start);
    const end = next < 0 ? bytes.length : next;
    const field = bytes.subarray(start, end);
    const equals = field.indexOf(EQUALS);
    if (equals >= 0) {
      const format = base64Image(Buffer.from(unescaped(field.subarray(equals + 1, equals + 1 + VALUE_START_BYTES)), 'latin1'));
      if (format) return { field: unescaped(field.subarray(0, equals)), format };
    }
    start = end + 1;
  }
  return null;
}
