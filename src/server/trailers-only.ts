/**
 * A status answered on an HTTP/2 stream before grpc-js has made a call of it, as grpc-js answers a
 * call ended before its first message: status and metadata in the response headers, then a reset
 * so that the client stops sending its request (request-upload.ts).
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Metadata, status } from '@grpc/grpc-js';
import { OCR_SERVICE } from '../shared/service-name.js';
import type { ServerMetrics } from './metrics.js';
import { stopStreamUpload } from './request-upload.js';
import { statusName } from './status.js';

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

/**
 * Refuses a new stream for what its headers say, at once: counted under its method where it is
 * the OCR service's (as a handler's refusal is), then answered.
 */
export function refuseStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  metrics: ServerMetrics,
  code: status,
  details: string,
  metadata?: Metadata,
): true {
  // grpc-js sets one too: an error after the client's reset must not be thrown.
  stream.on('error', () => undefined);
  const method = /^\/([^/]+)\/([^/]+)$/.exec(String(headers[constants.HTTP2_HEADER_PATH]));
  if (method?.[1] === OCR_SERVICE) metrics.answeredNotOk(method[2]!, statusName(code), performance.now());
  answerTrailersOnly(stream, code, details, metadata);
  return true;
}
