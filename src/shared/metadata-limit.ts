/**
 * How much metadata a gRPC call may carry, counted as HTTP/2 counts a header list (RFC 9113
 * SETTINGS_MAX_HEADER_LIST_SIZE): each field's name and value, and 32 bytes. Past a limit that Node
 * (nghttp2) does not let a server move, headers fail the whole connection, not the one call: a
 * field of more than 64 KiB once HPACK-encoded (COMPRESSION_ERROR), or a header block of more than
 * 8 CONTINUATION frames (about 144 KiB). A gateway or an SDK client carries many callers' calls on
 * one connection, so the server refuses a call well below that (src/server/metadata-size.ts),
 * tells clients its limit in its SETTINGS, and the SDK sends no call over it
 * (src/client/metadata-limit-interceptor.ts).
 */

/** The metadata a call may carry; over it, a call is refused alone with INVALID_ARGUMENT. */
export const MAX_METADATA_BYTES = 32 * 1024;

/** What HTTP/2 adds to each field's name and value in a header list's size. */
const FIELD_OVERHEAD_BYTES = 32;

/**
 * A header list's size as HTTP/2 counts it, from its names and values in turn, [name, value, name,
 * value, …] (strings of bytes, as Node's 'stream' event gives them).
 */
export function headerListBytes(namesAndValues: readonly string[]): number {
  let bytes = 0;
  for (const part of namesAndValues) bytes += part.length;
  return bytes + (namesAndValues.length / 2) * FIELD_OVERHEAD_BYTES;
}

/** `bytes` in KiB, to one decimal: how a refusal names a size. */
export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1).replace(/\.0$/, '')} KiB`;
}
