/**
 * Compressed requests (grpc-encoding gzip or deflate) are refused from their headers. grpc-js
 * inflates a request whole, up to the message size limit, after the upload gate has counted only
 * its compressed bytes (upload-gate.ts): 200 calls of 30 KB, each inflating to 30 MB, took the
 * server 2.4 GB above its level. Images are compressed already, so a compressed request saves
 * nothing; the answer is the one gRPC prescribes for an encoding a server does not take:
 * UNIMPLEMENTED, with grpc-accept-encoding naming what it takes.
 */
import { Metadata, status } from '@grpc/grpc-js';
import { shown } from '../shared/shown.js';
import type { GrpcHttp2Server } from './http2-servers.js';
import { screenStreams } from './stream-screen.js';
import { refuseStream, type StreamRefusals } from './trailers-only.js';

/** What a caller whose request is compressed with `encoding` is told. */
function compressedRequest(encoding: string): string {
  return (
    `this server takes requests uncompressed, not in grpc-encoding ${shown(encoding)}: images are compressed already; ` +
    "send the call without compression (leave out grpc-go's grpc.UseCompressor, grpc-java's withCompression)"
  );
}

/** Answers each new stream of `server` whose request is compressed; hands every other on. */
export function refuseCompressedRequests(server: GrpcHttp2Server, refusals: StreamRefusals): void {
  const accepted = new Metadata();
  accepted.set('grpc-accept-encoding', 'identity');
  screenStreams(server, (stream, headers) => {
    const encoding = headers['grpc-encoding'];
    if (encoding === undefined || encoding === 'identity') return false;
    return refuseStream(stream, headers, refusals, status.UNIMPLEMENTED, compressedRequest(String(encoding)), accepted);
  });
}
