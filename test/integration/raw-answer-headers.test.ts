import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { expect } from 'chai';
import { securityHeaders } from '../../src/http/security-headers.js';
import { makePki } from '../support/certificates.js';
import { listenHttpApp, type TestHttpApp } from '../support/http-app.js';

/** The header fields, lower-cased, of what the server writes on a raw connection after `request`, until it closes it. */
async function rawAnswerHeaders(port: number, request: string): Promise<{ status: string; headers: Record<string, string> }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString()));
  socket.write(request);
  await once(socket, 'close');
  const [status = '', ...lines] = answer.slice(0, answer.indexOf('\r\n\r\n')).split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  );
  return { status, headers };
}

describe('answers written to the socket, before any request is routed', function () {
  this.timeout(30_000);
  const apps: TestHttpApp[] = [];
  after(async () => {
    for (const app of apps) await app.close();
  });

  it('carry the security headers of every answer: a malformed request, and plain HTTP on the HTTPS port', async () => {
    const plainApp = await listenHttpApp();
    apps.push(plainApp);
    const malformed = await rawAnswerHeaders(plainApp.port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    expect(malformed.status).to.equal('HTTP/1.1 400 Bad Request');
    expect(malformed.headers).to.deep.include(securityHeaders('/'));

    const pki = makePki();
    const httpsApp = await listenHttpApp({}, { https: { cert: readFileSync(pki.server.cert), key: readFileSync(pki.server.key) } });
    apps.push(httpsApp);
    const plain = await rawAnswerHeaders(httpsApp.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(plain.status).to.equal('HTTP/1.1 400 Bad Request');
    expect(plain.headers).to.deep.include(securityHeaders('/'));
  });
});
