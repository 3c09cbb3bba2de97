/**
 * A status answered on an HTTP/2 stream before grpc-js has made a call of it, as grpc-js answers a
 * call ended before its first message: status and metadata in the response headers, then a reset
 * so that the client stops sending its request (request-upload.ts).
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Metadata, status } from '@grpc/grpc-js';
import { OcrServiceService } from '../gen/ocr/v1/ocr.js';
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

/** The OCR service's methods by path: only these label the metrics, whatever path a client makes up. */
const OCR_METHODS = new Map<string, string>(
  Object.values(OcrServiceService).map(({ path }) => [path, path.slice(path.lastIndexOf('/') + 1)]),
);

/**
 * Refuses a new stream for what its headers say, at once: counted under its method where it is
 * one of the OCR service's (as a handler's refusal is), then answered.
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
  const method = OCR_METHODS.get(String(headers[constants.HTTP2_HEADER_PATH]));
  if (method) metrics.answeredNotOk(method, statusName(code), performance.now());
  answerTrailersOnly(stream, code, details, metadata);
  return true;
}
