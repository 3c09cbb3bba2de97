/** Requests that read what a TLS port serves: an answer over HTTPS (or plain HTTP), and the certificate a new connection is shown. */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

export interface Answer {
  status: number;
  body: string;
}

export interface RequestOptions {
  /** The CA to trust; without it the server's certificate is refused. */
  ca?: Buffer;
  /** A client certificate, for mutual TLS. */
  client?: { cert: Buffer; key: Buffer };
  /** Sent as a PNG with POST; without it, a GET. */
  body?: Buffer;
  /** Unless given, a fresh connection. */
  agent?: https.Agent;
  /** Plain HTTP rather than HTTPS (to a TLS port, to see how it answers). */
  plain?: boolean;
}

/** Reads `res` whole, then gives its status and body to `resolve`. */
export function readAnswer(res: http.IncomingMessage, resolve: (answer: Answer) => void): void {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (d: string) => (body += d));
  res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
}

/** One request to `route` on 127.0.0.1:`port`, its status and body. */
export function request(port: number, route: string, options: RequestOptions = {}): Promise<Answer> {
  const client = options.plain ? http : https;
  return new Promise((resolve, reject) => {
    const req = client.request(
      {
        host: '127.0.0.1',
        port,
        path: route,
        method: options.body ? 'POST' : 'GET',
        agent: options.agent ?? false,
        ...(options.ca ? { ca: options.ca } : {}),
        ...(options.client ?? {}),
        headers: options.body ? { 'content-type': 'image/png' } : {},
      },
      (res) => readAnswer(res, resolve),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The serial of the certificate a new TLS connection to `port` is shown (ALPN h2 for a gRPC port). */
export function servedSerial(port: number, ca: Buffer, client?: { cert: Buffer; key: Buffer }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['h2', 'http/1.1'], ...(client ?? {}) }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}
