/**
 * Stopping a request's upload once its call is answered. grpc-js, having sent a status before the
 * request's end, keeps reading and discarding the request, and the client's call only ends when its
 * last byte is through: a refused half-megabyte scan then costs its whole upload on a connection
 * shared with the calls being served, and its refusal waits behind them. HTTP/2 lets a server that
 * has sent a complete response reset the stream with NO_ERROR so that the client stops sending
 * (RFC 9113, 8.1); gRPC clients keep the status they received, and grpc-go's server does the same.
 */
import { constants } from 'node:http2';
import { findUnderCall } from './call-chain.js';
import { slicedAnswers } from './sliced-answers.js';

/** What this needs of the HTTP/2 stream under a grpc-js server call. */
export interface ClosableStream {
  readonly closed: boolean;
  readonly destroyed: boolean;
  readonly writableFinished: boolean;
  once(event: 'finish', listener: () => void): unknown;
  close(code: number): void;
}

function isClosableStream(value: unknown): value is ClosableStream {
  if (typeof value !== 'object' || value === null) return false;
  const stream = value as Partial<Record<keyof ClosableStream, unknown>>;
  return typeof stream.close === 'function' && typeof stream.once === 'function' && typeof stream.closed === 'boolean';
}

/**
 * Reset a server call's stream with NO_ERROR once the status it was just given has gone out. Where a
 * version of grpc-js keeps its stream elsewhere this does nothing, and the upload runs to its end.
 */
export function stopRequestUpload(call: object): void {
  const stream = findUnderCall(call, 'stream', isClosableStream);
  if (stream) stopStreamUpload(stream);
}

/** Reset `stream` with NO_ERROR once the answer just given on it has gone out. */
export function stopStreamUpload(stream: ClosableStream): void {
  const close = () =>
    // In a later turn, after the status's frames, as Node resets its own finished server streams;
    // a crowd of refusals' resets shares the main thread with other callers (sliced-answers.ts).
    slicedAnswers.run(() => {
      if (!stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
    });
  if (stream.writableFinished) close();
  else stream.once('finish', close);
}
