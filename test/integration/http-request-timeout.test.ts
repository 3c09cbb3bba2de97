import { expect } from 'chai';
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { RecognizeResponse } from '../../src/gen/ocr/v1/ocr.js';
import { TIMEOUT_PASSED } from '../../src/http/failure.js';
import { serverTimeouts } from '../../src/http/request-timeout.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { HttpMetrics } from '../../src/http/http-metrics.js';
import { listenHttpApp } from '../support/http-app.js';

/** A line of the app's log, as the tests here read it. */
interface LogLine {
  msg: string;
  requestId?: string;
  route?: string;
  status?: number;
  code?: string;
  ms?: number;
}

/** What the server sends on a raw connection after `request`, until it closes the connection. */
async function rawExchange(port: number, request: string | Buffer): Promise<{ answer: string; ms: number }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const started = performance.now();
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString()));
  socket.write(request);
  await once(socket, 'close');
  return { answer, ms: performance.now() - started };
}

/**
 * A raw connection that sends `head`, then `body` at once as fetch sends one, and keeps what the
 * server answers and any error the socket meets (a reset while the body is still going).
 */
async function sendWhole(port: number, head: string, body: Buffer): Promise<{ socket: net.Socket; answer: () => string; errors: Error[] }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString()));
  const errors: Error[] = [];
  socket.on('error', (err) => errors.push(err));
  socket.write(head);
  await new Promise<void>((resolve) => socket.write(body, () => resolve()));
  return { socket, answer: () => answer, errors };
}

describe('HTTP request timeout', function () {
  // Without the limit, the stalled request's connection never closes and the test fails on this timeout.
  this.timeout(10_000);

  it('answers a request whose body stops coming 408 with the API JSON once the limit has passed, and closes its connection', async () => {
    // No request here reaches the backend: each one stalls or is malformed before its body is whole.
    const app = await listenHttpApp({}, { maxImageBytes: 1024 * 1024, requestTimeoutMs: 400 });
    try {
      const { port } = app;
      // 100 kB declared, 1 kB sent.
      const head = 'POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n';
      const { answer, ms } = await rawExchange(port, head + 'x'.repeat(1000));
      const [status, body] = [answer.slice(0, answer.indexOf('\r\n')), answer.slice(answer.indexOf('\r\n\r\n') + 4)];
      expect(status).to.equal('HTTP/1.1 408 Request Timeout');
      expect(JSON.parse(body)).to.deep.equal({
        code: 4,
        msg: "the request did not arrive whole within 0.4 s, the server's limit; send it without pausing",
        error: 'DEADLINE_EXCEEDED',
      });
      expect(ms).to.be.at.least(400);
      // A malformed request: 400 in the same form.
      const malformed = await rawExchange(port, 'POST /api/ocr HTTP/1.1\r\nContent-Length: x\r\n\r\n');
      expect(malformed.answer).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(JSON.parse(malformed.answer.slice(malformed.answer.indexOf('\r\n\r\n') + 4))).to.include({
        code: 3,
        error: 'INVALID_ARGUMENT',
      });
    } finally {
      await app.close();
    }
  });

  it('counts the requests it answers from their socket or before any route: 408 with its route, a malformed one as unknown', async () => {
    const registry = new Registry();
    const app = await listenHttpApp({}, { maxImageBytes: 1024 * 1024, requestTimeoutMs: 400, metrics: new HttpMetrics(registry) });
    try {
      const head = 'POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n';
      expect((await rawExchange(app.port, head + 'x'.repeat(1000))).answer).to.match(/^HTTP\/1.1 408 /);
      expect((await rawExchange(app.port, 'GET /%zz HTTP/1.1\r\nHost: ocr\r\nConnection: close\r\n\r\n')).answer).to.match(
        /^HTTP\/1.1 400 /,
      );
      expect((await rawExchange(app.port, 'GARBAGE\r\n\r\n')).answer).to.match(/^HTTP\/1.1 400 /);
      const counted = async (): Promise<string[]> =>
        (await registry.metrics()).split('\n').filter((l) => l.startsWith('ocr_http_requests_total{'));
      await waitFor(async () => (await counted()).length >= 2, 2000, 'the requests counted');
      expect(await counted()).to.have.members([
        'ocr_http_requests_total{route="/api/ocr",status="408"} 1',
        'ocr_http_requests_total{route="unknown",status="400"} 2',
      ]);
    } finally {
      await app.close();
    }
  });

  it('names a request it answers 408 by its id, in the answer and in its one log line, as every other answer is named', async () => {
    const lines: LogLine[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
    const app = await listenHttpApp({}, { maxImageBytes: 1024 * 1024, requestTimeoutMs: 400, logger });
    try {
      const head =
        'POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nx-request-id: slow-upload\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n';
      const { answer } = await rawExchange(app.port, head + 'x'.repeat(1000));
      expect(answer).to.match(/^HTTP\/1.1 408 /);
      expect(answer).to.match(/\r\nx-request-id: slow-upload\r\n/i);
      // A request answered after it, so that whatever the app did with the first once its connection closed is logged.
      const next = await fetch(`http://127.0.0.1:${app.port}/api/ocr`, { method: 'POST', headers: { 'x-request-id': 'after-it' } });
      expect(next.status).to.equal(400);
      await waitFor(() => lines.some((l) => l.requestId === 'after-it'), 2000, 'the next request logged');
      expect(lines.filter((l) => l.requestId === 'slow-upload')).to.have.lengthOf(1);
      const [line] = lines.filter((l) => l.requestId === 'slow-upload');
      expect(line).to.include({ msg: 'refused', route: '/api/ocr', status: 408, code: 'DEADLINE_EXCEEDED' });
      expect(line!.ms).to.be.a('number');
    } finally {
      await app.close();
    }
  });

  it('answers 504 the moment timeout_ms passes, as gRPC does at a deadline, and stops the work', async () => {
    let stopped: unknown;
    // Work that runs on for 1.5 s whatever its caller's timeout, as a page already in a worker does.
    const app = await listenHttpApp({
      recognize: (_image, _options, call) =>
        new Promise<RecognizeResponse>((resolve) => {
          call.signal.addEventListener('abort', () => {
            stopped = call.signal.reason as unknown;
          });
          setTimeout(() => resolve(RecognizeResponse.fromPartial({})), 1500);
        }),
    });
    try {
      const started = performance.now();
      const res = await fetch(`http://127.0.0.1:${app.port}/api/ocr?timeout_ms=300`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png')),
      });
      const ms = performance.now() - started;
      expect(res.status).to.equal(504);
      expect(await res.json()).to.deep.equal({ code: 4, msg: TIMEOUT_PASSED, error: 'DEADLINE_EXCEEDED' });
      expect(ms).to.be.below(1000);
      expect(stopped, 'the work was told to stop').to.not.equal(undefined);
    } finally {
      await app.close();
    }
  });

  it("answers a request without Host, or with an Expect it cannot meet, in the API's shape rather than Node's empty body", async () => {
    const app = await listenHttpApp({}, { requestTimeoutMs: 400 });
    try {
      const answered = async (request: string): Promise<[string, unknown]> => {
        const { answer } = await rawExchange(app.port, request);
        return [answer.slice(0, answer.indexOf('\r\n')), JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))];
      };
      expect(await answered('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n')).to.deep.equal([
        'HTTP/1.1 400 Bad Request',
        {
          code: 3,
          msg: "the request has no Host header, which HTTP/1.1 requires: send one naming the server's host",
          error: 'INVALID_ARGUMENT',
        },
      ]);
      expect(await answered('GET /healthz HTTP/1.1\r\nHost: ocr\r\nExpect: 200-ok\r\nConnection: close\r\n\r\n')).to.deep.equal([
        'HTTP/1.1 417 Expectation Failed',
        {
          code: 9,
          msg: "Expect: '200-ok' is not an expectation this server meets; send the request without Expect, or with Expect: 100-continue",
          error: 'FAILED_PRECONDITION',
        },
      ]);
      // HTTP/1.0 needs no Host, and knows no Expect: Node's rules, kept.
      const old = await rawExchange(app.port, 'GET /healthz HTTP/1.0\r\nExpect: 200-ok\r\n\r\n');
      expect(old.answer).to.match(/^HTTP\/1\.1 200 OK\r\n/);
    } finally {
      await app.close();
    }
  });

  it('answers a body with a transfer coding before chunked 501, rather than reading it still coded as an image or JSON', async () => {
    const app = await listenHttpApp({}, { requestTimeoutMs: 400 });
    try {
      // Node decodes the chunks and passes on the gzip: the body was told it is no JPEG, PNG, ...
      const coded = gzipSync(Buffer.from(JSON.stringify({ image: 'aGVsbG8=' })));
      for (const [type, coding] of [
        ['image/jpeg', 'gzip, chunked'],
        ['application/json', 'deflate,chunked'],
      ]) {
        const head = `POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nContent-Type: ${type}\r\nTransfer-Encoding: ${coding}\r\nConnection: close\r\n\r\n`;
        const { answer } = await rawExchange(
          app.port,
          Buffer.concat([Buffer.from(`${head}${coded.length.toString(16)}\r\n`), coded, Buffer.from('\r\n0\r\n\r\n')]),
        );
        expect(answer).to.match(/^HTTP\/1\.1 501 Not Implemented\r\n/);
        expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).to.deep.equal({
          code: 12,
          msg:
            `Transfer-Encoding: '${coding}' names a coding this server does not decode; ` +
            'send the body with a Content-Length, or with Transfer-Encoding: chunked alone (image files are compressed already)',
          error: 'UNIMPLEMENTED',
        });
      }
    } finally {
      await app.close();
    }
  });

  it("names the headers' limit for a request whose headers stop coming: Node's, 60 s at most", async () => {
    // Node's own rule, set explicitly so that the answer can name it: at 120 s a request's headers have 60 s.
    expect(serverTimeouts(120_000)).to.include({ requestTimeout: 120_000, headersTimeout: 60_000 });
    const app = await listenHttpApp({}, { requestTimeoutMs: 400 });
    try {
      const { answer } = await rawExchange(app.port, 'POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nContent-Type: ima');
      expect(answer).to.match(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).to.deep.equal({
        code: 4,
        msg: "the request's headers did not arrive whole within 0.4 s, the server's limit for headers; send them without pausing",
        error: 'DEADLINE_EXCEEDED',
      });
    } finally {
      await app.close();
    }
  });

  it('reads and drops the rest of a body refused as too large, rather than resetting a client still sending it', async () => {
    const app = await listenHttpApp({}, { maxImageBytes: 4 * 1024 * 1024 });
    let sent: Awaited<ReturnType<typeof sendWhole>> | undefined;
    try {
      // Twice the limit sent at once, as fetch sends a body: the 413 comes from the headers, before most of it.
      const length = 8 * 1024 * 1024;
      const head = `POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nContent-Type: image/jpeg\r\nContent-Length: ${length}\r\n\r\n`;
      sent = await sendWhole(app.port, head, Buffer.alloc(length, 0xff));
      const { answer } = sent;
      await waitFor(() => answer().includes('}'), 10_000);
      expect(answer()).to.match(/^HTTP\/1\.1 413 /);
      // Closed at once, the connection met the rest of the body with a reset: the client's writing failed, the answer at risk.
      expect(sent.errors.map(String)).to.deep.equal([]);
    } finally {
      sent?.socket.destroy();
      await app.close();
    }
  });

  it('answers a duplicate or malformed Content-Length 400 and drops the body still coming, rather than resetting its client', async () => {
    const app = await listenHttpApp({}, { maxImageBytes: 4 * 1024 * 1024 });
    try {
      const length = 4 * 1024 * 1024;
      for (const declared of [`Content-Length: ${length}\r\nContent-Length: ${length + 1}`, `Content-Length: ${length}x`]) {
        let sent: Awaited<ReturnType<typeof sendWhole>> | undefined;
        try {
          // The whole body sent at once, as fetch sends one: the 400 comes from the headers, before most of it.
          const head = `POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nContent-Type: image/jpeg\r\n${declared}\r\n\r\n`;
          sent = await sendWhole(app.port, head, Buffer.alloc(length, 0xff));
          sent.socket.end();
          await once(sent.socket, 'close');
          const answer = sent.answer();
          expect(answer, declared).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
          expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), declared).to.include({ code: 3, error: 'INVALID_ARGUMENT' });
          // Closed at once, the connection met the rest of the body with a reset.
          expect(sent.errors.map(String), declared).to.deep.equal([]);
        } finally {
          sent?.socket.destroy();
        }
      }
    } finally {
      await app.close();
    }
  });
});
