/**
 * Two refusals Node's HTTP server makes itself, with an empty body and no request id: an HTTP/1.1
 * request without the Host header (400), and an Expect other than 100-continue (417). The server
 * lets them through to the app instead (requireHostHeader off, a checkExpectation listener), whose
 * first hook refuses them in the API's shape, saying what to do.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { HttpError } from './failure.js';
import { shown } from '../shared/shown.js';

/** Node's server option that lets a request without Host through to the app. */
export const HOST_LEFT_TO_APP = { requireHostHeader: false } as const;

/** The longest Expect value shown back in a refusal: the header may be kilobytes long. */
const SHOWN_EXPECT = 64;

/**
 * Passes the requests with an Expect Node cannot meet to the app (Node answers 417 itself where
 * no one listens) and returns what refuses them, and a request without Host: null for any other.
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
      const value = request.headers.expect ?? '';
      return new HttpError(
        417,
        'FAILED_PRECONDITION',
        `Expect: ${shown(value.length > SHOWN_EXPECT ? `${value.slice(0, SHOWN_EXPECT)}…` : value)} is not an expectation this server meets; ` +
          'send the request without Expect, or with Expect: 100-continue',
      );
    }
    return null;
  };
}
