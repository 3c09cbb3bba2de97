/**
 * A status answered on an HTTP/2 stream before grpc-js has made a call of it, as grpc-js answers a
 * call ended before its first message: status and metadata in the response headers, then a reset
 * so that the client stops sending its request (request-upload.ts).
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { Metadata, type status } from '@grpc/grpc-js';
import { OcrServiceService } from '../gen/ocr/v1/ocr.js';
import { clientPeer } from '../shared/client-address.js';
import { REQUEST_ID_KEY, requestIdOf } from '../shared/request-id.js';
import { clipped } from '../shared/shown.js';
import type { Logger } from './logger.js';
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

/** Where a stream refused from its headers is counted, and logged (asked at each: the server's is made once its port is bound). */
export interface StreamRefusals {
  metrics: ServerMetrics;
  logger: () => Logger | undefined;
}

/**
 * Refuses a new stream for what its headers say, at once: counted under its method where it is
 * one of the OCR service's, and logged under its request id, which its answer carries back, as a
 * handler's refusal is (call-handler.ts, request-id-interceptor.ts). At debug, as the early
 * refusals from headers are (early-refusal.ts): a client may open thousands of such streams a second.
 */
export function refuseStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  refusals: StreamRefusals,
  code: status,
  details: string,
  metadata = new Metadata(),
): true {
  // grpc-js sets one too: an error after the client's reset must not be thrown.
  stream.on('error', () => undefined);
  const path = String(headers[constants.HTTP2_HEADER_PATH]);
  const method = OCR_METHODS.get(path);
  if (method) refusals.metrics.answeredNotOk(method, statusName(code), performance.now());
  const requestId = requestIdOf(headers[REQUEST_ID_KEY]);
  const log = refusals.logger();
  if (log?.isLevelEnabled('debug')) {
    const peer = clientPeer(stream.session?.socket?.remoteAddress, stream.session?.socket?.remotePort);
    // A path no method has is the client's to make up: as much of it as a refusal repeats.
    log.debug({ requestId, method: method ?? clipped(path), code: statusName(code), message: details, ms: 0, peer }, 'refused');
  }
  metadata.set(REQUEST_ID_KEY, requestId);
  answerTrailersOnly(stream, code, details, metadata);
  return true;
}
