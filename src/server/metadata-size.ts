/**
 * The bound on a call's metadata, kept to the call. Node's HTTP/2 server, as grpc-js makes it,
 * takes any header list size (it advertises none) but only 128 fields: a call with more got its
 * stream reset, which grpc-js's clients read as "Bandwidth exhausted or memory limit exceeded";
 * and a larger header block failed the whole connection, every call on it with "Received
 * RST_STREAM with code 9" (src/shared/metadata-limit.ts). Now the server advertises a header list
 * limit twice MAX_METADATA_BYTES in its SETTINGS, which clients that keep to it (grpc-go, gRPC C++
 * and Java) refuse locally, and which Node enforces by resetting the one stream; the field count
 * is left to that size. A call over MAX_METADATA_BYTES is answered INVALID_ARGUMENT here, before
 * grpc-js makes a call of it, saying its size, the limit and what to do.
 */
import type { ServerOptions } from 'node:http2';
import { status } from '@grpc/grpc-js';
import { headerListBytes, kib, MAX_METADATA_BYTES } from '../shared/metadata-limit.js';
import type { GrpcHttp2Server } from './http2-servers.js';
import { screenStreams } from './stream-screen.js';
import { refuseStream, type StreamRefusals } from './trailers-only.js';

/** The header list Node lets through to the refusal below; over it, Node resets the stream. */
const HEADER_LIST_HARD_BYTES = 2 * MAX_METADATA_BYTES;

/**
 * Options of the HTTP/2 servers grpc-js makes. The field count is as many as the size allows (each
 * field counts 32 bytes and more), so that the size, which the refusal names, is what binds.
 */
export const HEADER_LIMIT_OPTIONS: ServerOptions = {
  maxHeaderListPairs: HEADER_LIST_HARD_BYTES / 32,
  settings: { maxHeaderListSize: HEADER_LIST_HARD_BYTES },
};

/** What a caller whose call's metadata is `bytes` is told. */
export function metadataTooLarge(bytes: number): string {
  return (
    `the call's metadata is ${kib(bytes)} (names and values, and 32 bytes a field, as HTTP/2 counts headers), ` +
    `over this server's ${kib(MAX_METADATA_BYTES)}: send fewer or shorter metadata entries (a shorter token or x-request-id)`
  );
}

/** Answers each new stream of `server` whose metadata is over MAX_METADATA_BYTES; hands every other on. */
export function refuseLargeMetadata(server: GrpcHttp2Server, refusals: StreamRefusals): void {
  screenStreams(server, (stream, headers, raw) => {
    const bytes = headerListBytes(raw);
    return bytes > MAX_METADATA_BYTES && refuseStream(stream, headers, refusals, status.INVALID_ARGUMENT, metadataTooLarge(bytes));
  });
}
