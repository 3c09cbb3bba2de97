/**
 * The images a caller hands the client, checked: untyped callers pass a path, base64 text or an
 * ArrayBuffer, which Node's own errors name nothing of ("Received undefined"), and which sharp
 * would even read as a file path when an image is cut into tiles.
 */

/** What an untyped caller passed, as an error message names it. */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== 'object') return `a ${typeof value}`;
  const name = (value as object).constructor?.name ?? 'object';
  return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
}

/** `value` if it is bytes; else a TypeError that names `name` and the usual fix for what was passed. */
export function checkImageBytes(value: Uint8Array, name: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  const hint =
    typeof value === 'string'
      ? ': read the file first (fs.readFile), or decode base64 text with Buffer.from(text, "base64")'
      : (value as unknown) instanceof ArrayBuffer
        ? ': wrap it as new Uint8Array(buffer)'
        : '';
  throw new TypeError(`${name} must be the encoded image file's bytes (a Buffer or Uint8Array), got ${kindOf(value)}${hint}`);
}

/** The generated messages want Buffers; wrapping shares the bytes instead of copying them. */
export function asBuffer(value: Uint8Array, name: string): Buffer {
  const bytes = checkImageBytes(value, name);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
