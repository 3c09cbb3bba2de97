/**
 * Two refusals Node's HTTP server makes itself, with an empty body and no request id: an HTTP/1.1
 * request without the Host header (400), and an Expect other than 100-continue (417). The server
 * lets them through to the app instead (requireHostHeader off, a checkExpectation listener), whose
 * first hook refuses them in the API's shape, saying what to do. And one Node does not make: a
 * transfer coding before chunked (`Transfer-Encoding: gzip, chunked`), whose body Node passes on
 * still coded, so that a gzipped image was told it is no image, and gzipped JSON that it is not JSON.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { HttpError } from './failure.js';
import { shown } from '../shared/shown.js';

/** Node's server option that lets a request without Host through to the app. */
export const HOST_LEFT_TO_APP = { requireHostHeader: false } as const;

/** The longest header value shown back in a refusal: a header may be kilobytes long. */
const SHOWN_HEADER = 64;

const shownHeader = (value: string): string => shown(value.length > SHOWN_HEADER ? `${value.slice(0, SHOWN_HEADER)}…` : value);

/** Whether a Transfer-Encoding names a coding besides chunked, the only one Node decodes. */
const codedBeyondChunked = (value: string): boolean =>
  value.split(',').some((coding) => !['chunked', ''].includes(coding.trim().toLowerCase()));

/**
 * Passes the requests with an Expect Node cannot meet to the app (Node answers 417 itself where
 * no one listens) and returns what refuses them, a request without Host, and one with a transfer
 * coding besides chunked: null for any other.
 */
export function protocolRefusals(server: Server): (request: IncomingMessage) => HttpError | null {
  const unmet = new WeakSet<IncomingMessage>();
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    unmet.add(request);
    server.emit('request', request, response);
  });
  return (request) => {
    // Node's own rule (RFC 9112 3.2): only HTTP/1.1 requires Host.
    if (request.httpVersion === '1.1' && request.headers.host === undefined) {
      return new HttpError(
        400,
        'INVALID_ARGUMENT',
        "the request has no Host header, which HTTP/1.1 requires: send one naming the server's host",
      );
    }
    if (unmet.has(request)) {
      return new HttpError(
        417,
        'FAILED_PRECONDITION',
        `Expect: ${shownHeader(request.headers.expect ?? '')} is not an expectation this server meets; ` +
          'send the request without Expect, or with Expect: 100-continue',
      );
    }
    const coding = request.headers['transfer-encoding'];
    if (coding !== undefined && codedBeyondChunked(coding)) {
      // RFC 9112 6.1: a transfer coding the server does not understand is answered 501.
      return new HttpError(
        501,
        'UNIMPLEMENTED',
        `Transfer-Encoding: ${shownHeader(coding)} names a coding this server does not decode; ` +
          'send the body with a Content-Length, or with Transfer-Encoding: chunked alone (image files are compressed already)',
      );
    }
    return null;
  };
}
