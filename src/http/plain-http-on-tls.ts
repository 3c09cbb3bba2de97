/**
 * A plain HTTP request on the port serving HTTPS (http:// to a server with --tls-cert): OpenSSL
 * takes it for a bad TLS record and Node closes the connection unanswered, which curl reports as
 * "Empty reply from server" and a browser as a reset, naming neither TLS nor what to do. It is
 * answered 400 in plain HTTP instead, in the API's shape, as nginx answers it.
 */
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { failureJson } from './response-json.js';
import { RAW_SECURITY_HEADER_LINES } from './security-headers.js';

const ANSWER = JSON.stringify(
  failureJson({
    status: 400,
    code: 'INVALID_ARGUMENT',
    message:
      "this port serves HTTPS: send the request to https://, trusting the CA that signed the server's certificate (curl --cacert FILE)",
  }),
);

export function answerPlainHttp(server: HttpsServer): void {
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    if (err.code !== 'ERR_SSL_HTTP_REQUEST') return;
    // The TCP socket under the TLS one (Node keeps it as _parent, untyped): still open here, Node destroys it once this returns.
    const tcp = (socket as TLSSocket & { _parent?: Socket | null })._parent;
    if (!tcp?.writable) return;
    tcp.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(ANSWER)}\r\n${RAW_SECURITY_HEADER_LINES}connection: close\r\n\r\n${ANSWER}`,
    );
  });
}
