/**
 * A status answered on an HTTP/2 stream before grpc-js has made a call of it, as grpc-js answers a
 * call ended before its first message: status and metadata in the response headers, then a reset
 * so that the client stops sending its request (request-upload.ts).
 */
import { constants, type ServerHttp2Stream } from 'node:http2';
import type { Metadata } from '@grpc/grpc-js';
import { stopStreamUpload } from './request-upload.js';

export function answerTrailersOnly(stream: ServerHttp2Stream, code: number, details: string, metadata?: Metadata): void {
  if (stream.closed || stream.destroyed) return;
  stream.respond(
    {
      [constants.HTTP2_HEADER_STATUS]: constants.HTTP_STATUS_OK,
      [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc+proto',
      ...metadata?.toHttp2Headers(),
      'grpc-status': String(code),
      'grpc-message': encodeURI(details),
    },
    { endStream: true },
  );
  stopStreamUpload(stream);
}
