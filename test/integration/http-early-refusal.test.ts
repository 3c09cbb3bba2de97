import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { Admission, type CallCost } from '../../src/engine/admission/admission.js';
import { MemoryBudget } from '../../src/engine/admission/memory-budget.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import type { OcrBackend } from '../../src/http/backend.js';
import { weighRequest } from '../../src/server/request-weighing.js';
import { UploadGate } from '../../src/server/upload-gate.js';
import { RecognizeResponse } from '../../src/gen/ocr/v1/ocr.js';
import { pino } from 'pino';
import { invalidArgument, loadRefusal } from '../../src/shared/errors.js';
import { listenHttpApp, type TestHttpApp } from '../support/http-app.js';

const MB = 1024 * 1024;
const png = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));
const PAGE: CallCost = { bytes: MB, encodedBytes: 0, kind: 'page', units: 40, what: 'a page' };

/**
 * An admission with eight pages of 60 s of work answered, so that a typical page is known, and,
 * when `busy`, one such page admitted and never finished: a minute of work ahead of any request.
 */
async function admission(busy: boolean, clock?: () => number): Promise<{ admission: Admission; close: () => Promise<void> }> {
  const a = new Admission(new MemoryBudget(100 * MB), { workers: 1, maxWaitMs: 30_000, deadlineShare: 0.8, ...(clock ? { clock } : {}) });
  for (let i = 0; i < 8; i++) await a.run(PAGE, {}, async () => 0);
  let finish: () => void = () => undefined;
  const held = busy ? a.run(PAGE, {}, () => new Promise<void>((resolve) => (finish = resolve))) : Promise.resolve();
  return { admission: a, close: async () => (finish(), await held) };
}

/** The HTTP app over `backend`, its requests weighed by `gate` as `ocr serve` weighs them. */
const app = (gate: Admission, backend: Partial<OcrBackend>): Promise<TestHttpApp> =>
  listenHttpApp(backend, { uploads: new UploadGate(), weigh: (request) => weighRequest(gate, request) });

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: { code: number; error?: string; msg: string };
  ms: number;
}

/**
 * `POST /api/ocr` on a raw connection declaring a 1 MiB image and sending only `sentBytes` of it,
 * the rest never; what comes back before the server closes the connection.
 */
async function partialPost(port: number, extraHeaders = '', sentBytes = 64 * 1024): Promise<RawAnswer> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const started = performance.now();
  let answer = '';
  let ms = 0;
  socket.on('data', (d: Buffer) => ((answer += d.toString()), (ms ||= performance.now() - started)));
  socket.on('error', () => undefined);
  socket.write(`POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nContent-Type: image/png\r\nContent-Length: ${MB}\r\n${extraHeaders}\r\n`);
  socket.write(Buffer.alloc(sentBytes, 1));
  await once(socket, 'close');
  const [head, body] = [answer.slice(0, answer.indexOf('\r\n\r\n')), answer.slice(answer.indexOf('\r\n\r\n') + 4)];
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(body) as RawAnswer['body'], ms };
}

describe('HTTP refusal before the request', function () {
  // Without the refusal from the headers, the requests here wait for bodies that never come and the test fails on this timeout.
  this.timeout(10_000);

  it('refuses a request for load from its headers, before its body, held a second; Retry-After counts from the answer', async () => {
    const busy = await admission(true);
    let reached = 0;
    const server = await app(busy.admission, { recognize: () => (reached++, Promise.resolve(RecognizeResponse.fromPartial({}))) });
    try {
      const answer = await partialPost(server.port);
      expect(answer.status).to.equal(429);
      expect(answer.body).to.include({ code: 8, error: 'RESOURCE_EXHAUSTED' });
      expect(answer.body.msg).to.match(/^server busy: /);
      // A minute of work ahead and a minute for this page, where the server waits at most half of that:
      // a new request fits in half a minute. Held the whole second, and Retry-After says the rest.
      expect(answer.ms).to.be.at.least(950);
      expect(Number(answer.headers['retry-after'])).to.be.within(25, 30);
      // The body was never read: the connection closes after the answer.
      expect(answer.headers.connection).to.equal('close');
      expect(reached).to.equal(0);
    } finally {
      await server.close();
      await busy.close();
    }
  });

  it('holds a refusal at most half of what its timeout leaves', async () => {
    const busy = await admission(true);
    const server = await app(busy.admission, {});
    try {
      const answer = await partialPost(server.port, 'ocr-timeout-ms: 400\r\n');
      expect(answer.status).to.equal(429);
      expect(answer.ms).to.be.at.least(190).and.below(900);
    } finally {
      await server.close();
      await busy.close();
    }
  });

  it('lets requests in while there is room, each counted ahead of later arrivals only until its body is read', async () => {
    const idle = await admission(false);
    let reached = 0;
    const server = await app(idle.admission, { recognize: () => (reached++, Promise.resolve(RecognizeResponse.fromPartial({}))) });
    try {
      const url = `http://127.0.0.1:${server.port}/api/ocr`;
      // A typical page is a minute of work, the server's longest wait 30 s: one promise still counted would refuse the next request.
      for (let i = 0; i < 3; i++) {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
        expect(res.status, `request ${i + 1}`).to.equal(200);
      }
      expect(reached).to.equal(3);
    } finally {
      await server.close();
      await idle.close();
    }
  });

  it('counts a request whose body does not come ahead of later arrivals for two seconds, not until its connection ends', async () => {
    let now = 0;
    const idle = await admission(false, () => now);
    const server = await app(idle.admission, { recognize: () => Promise.resolve(RecognizeResponse.fromPartial({})) });
    // Its headers and nothing more, as a client that stalls (or an attacker holding the queue) sends.
    const stalled = net.connect(server.port, '127.0.0.1');
    stalled.on('error', () => undefined);
    stalled.write(`POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nContent-Type: image/png\r\nContent-Length: ${MB}\r\n\r\n`);
    const post = (): Promise<Response> =>
      fetch(`http://127.0.0.1:${server.port}/api/ocr?timeout_ms=5000`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: png,
      });
    try {
      // Let in, it is a typical page (a minute of work) ahead of the next arrival, which is refused.
      while (!idle.admission.refusalBeforeRequest('interactive', Date.now() + 5000, 'page', { arriving: true })) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect((await post()).status).to.equal(429);
      // Two seconds on and its body has still not come: it no longer keeps others out.
      now += 2000;
      const res = await post();
      expect(res.status, await res.text()).to.equal(200);
    } finally {
      stalled.destroy();
      await server.close();
      await idle.close();
    }
  });

  it('holds a refusal for load that comes after the body the same way (the engine, or the cluster behind a gateway)', async () => {
    const idle = await admission(false);
    const server = await app(idle.admission, { recognize: () => Promise.reject(loadRefusal('server busy: try later', 1300, 300)) });
    try {
      const started = performance.now();
      const res = await fetch(`http://127.0.0.1:${server.port}/api/ocr`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: png,
      });
      const ms = performance.now() - started;
      expect(res.status).to.equal(429);
      // A new request would fit in 300 ms: held the second, after which there is nothing left to wait.
      expect(ms).to.be.at.least(950);
      expect(res.headers.get('retry-after')).to.equal('0');
    } finally {
      await server.close();
      await idle.close();
    }
  });

  it('logs a refusal for load at debug only, as over gRPC, and one for bad input at info', async () => {
    const lines: { level: number; msg: string; status: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as never) });
    let refusal: Error = loadRefusal('server busy', 500);
    const app = await listenHttpApp({ recognize: () => Promise.reject(refusal) }, { logger, holdRefusals: false });
    try {
      const post = (): Promise<number> =>
        fetch(`http://127.0.0.1:${app.port}/api/ocr`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png }).then(
          (res) => res.status,
        );
      expect(await post()).to.equal(429);
      refusal = invalidArgument('not an image');
      expect(await post()).to.equal(400);
      expect(lines.map((l) => [l.level, l.msg, l.status])).to.deep.equal([[30, 'refused', 400]]);
    } finally {
      await app.close();
    }
  });
});
