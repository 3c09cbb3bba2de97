import type { ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { spawnGateway, spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';

/** A page whose recognition takes seconds here: it is still in flight when SIGTERM comes. */
const page = readFileSync(path.join(EVAL_DEV, 'docs', 'd001_invoice.jpg'));
const line = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));
/** Far longer than the page takes: the request in flight is answered, and the process exits long before the grace period ends. */
const GRACE_MS = 120_000;

interface RawAnswer {
  /** 0: the connection closed before a whole answer. */
  status: number;
  headers: string;
  body: string;
}

interface RawConnection {
  send(text: string | Buffer): void;
  /** The next whole answer on the connection (by its Content-Length). */
  answer(): Promise<RawAnswer>;
  close(): void;
}

/**
 * An HTTP/1.1 connection kept alive between requests, written byte by byte as the test chooses: a
 * request begun before SIGTERM and ended after it arrives while the server drains.
 */
async function rawConnection(port: number): Promise<RawConnection> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const changed = new EventEmitter();
  let received = Buffer.alloc(0);
  let closed = false;
  socket.on('data', (d: Buffer) => {
    received = Buffer.concat([received, d]);
    changed.emit('change');
  });
  socket.on('close', () => {
    closed = true;
    changed.emit('change');
  });
  // A reset shows as the close that follows it.
  socket.on('error', () => undefined);
  return {
    send: (text) => socket.write(text),
    async answer() {
      for (;;) {
        const end = received.indexOf('\r\n\r\n');
        if (end >= 0) {
          const headers = received.subarray(0, end).toString();
          const length = Number(/^content-length: *(\d+)/im.exec(headers)?.[1] ?? 0);
          if (received.length >= end + 4 + length) {
            const body = received.subarray(end + 4, end + 4 + length).toString();
            received = received.subarray(end + 4 + length);
            return { status: Number(headers.split(' ')[1]), headers, body };
          }
        }
        if (closed) return { status: 0, headers: '', body: `the connection closed after ${received.length} bytes` };
        await once(changed, 'change');
      }
    },
    close: () => socket.destroy(),
  };
}

/** Whether a new connection to `port` is refused: the server has stopped listening. */
function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** POST /api/ocr with the page as a multipart form, over fetch's kept-alive connections; status 0 with the error when it gets no answer. */
async function recognizePage(url: string): Promise<{ status: number; text: string }> {
  const body = new FormData();
  body.append('image', new Blob([page]), 'page.jpg');
  try {
    const res = await fetch(`${url}/api/ocr`, { method: 'POST', body });
    const json = (await res.json()) as { msg: string; data?: { text: string }[] };
    return { status: res.status, text: json.data?.map((l) => l.text).join('') ?? json.msg };
  } catch (err) {
    return { status: 0, text: String((err as Error).cause ?? err) };
  }
}

/** What an instance's /metrics says of the requests it is answering. */
async function inFlight(instance: ServerProcess): Promise<boolean> {
  const metrics = await (await fetch(`http://127.0.0.1:${instance.httpPort}/metrics`)).text();
  return /^ocr_requests_in_flight 1$/m.test(metrics);
}

/**
 * SIGTERM to `server` while a page it was sent is being recognized (`recognizing` says when), with
 * a kept-alive connection that asked /readyz before and asks again once the drain has begun, and a
 * new OCR request that arrives then. The request in flight is answered, the others are told the
 * server drains, and it exits 0.
 */
async function sigtermDuringRequest(
  server: { child: ChildProcess; url: string; stderr(): string },
  recognizing: () => Promise<boolean>,
): Promise<void> {
  const port = Number(new URL(server.url).port);
  const probe = await rawConnection(port);
  const newcomer = await rawConnection(port);
  try {
    probe.send('GET /readyz HTTP/1.1\r\nHost: ocr\r\n\r\n');
    expect((await probe.answer()).status, 'ready before SIGTERM').to.equal(200);
    const answered = recognizePage(server.url);
    await waitFor(recognizing, 30_000, 'the page in flight');
    // Begun before SIGTERM, a request keeps its connection from counting as idle; ended after, it
    // arrives while the server drains.
    probe.send('GET /readyz HTTP/1.1\r\nHost: ocr\r\n');
    newcomer.send('POST /api/ocr HTTP/1.1\r\nHost: ocr\r\n');
    const exited = once(server.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    await waitFor(() => refusesConnections(port), 10_000, 'the drain to begin: new connections refused');
    probe.send('\r\n');
    const readyz = await probe.answer();
    newcomer.send(`Content-Type: image/png\r\nContent-Length: ${line.length}\r\n\r\n`);
    newcomer.send(line);
    const refused = await newcomer.answer();
    const inFlightAnswer = await answered;
    const [code, signal] = await exited;
    const exitMs = Date.now() - signalled;

    expect(inFlightAnswer.status, `the request in flight: ${inFlightAnswer.text}`).to.equal(200);
    expect(inFlightAnswer.text).to.contain('发票');
    expect(readyz.status, `/readyz while draining: ${readyz.body}`).to.equal(503);
    expect(JSON.parse(readyz.body)).to.deep.equal({ status: 'draining' });
    expect(refused.status, `a new request while draining: ${refused.body}`).to.equal(503);
    expect(JSON.parse(refused.body)).to.deep.include({ code: 14, error: 'UNAVAILABLE' });
    expect((JSON.parse(refused.body) as { msg: string }).msg).to.match(/^draining: .*send .* to another instance/);
    expect(refused.headers).to.match(/^connection: close$/im);
    expect({ code, signal }, server.stderr().slice(-2000)).to.deep.equal({ code: 0, signal: null });
    // Every connection closed once its answer was sent: nothing waited for the grace period to end.
    expect(exitMs, 'ms from SIGTERM to exit').to.be.below(GRACE_MS / 2);
  } finally {
    probe.close();
    newcomer.close();
  }
}

/**
 * SIGTERM drains HTTP as it drains gRPC (README, "The server"): requests in flight get the grace
 * period to finish, /readyz answers 503 to whoever still asks, a request arriving while the server
 * drains is refused 503 with what to do, and the process exits 0.
 */
describe('HTTP while a server drains on SIGTERM', function () {
  this.timeout(300_000);

  it('ocr serve answers the HTTP request in flight, /readyz 503 on a kept-alive connection, a new request 503, and exits 0', async () => {
    const server = await spawnServer(['--workers', '1', '--grace-ms', String(GRACE_MS)]);
    try {
      await sigtermDuringRequest({ ...server, url: `http://127.0.0.1:${server.httpPort}` }, () => inFlight(server));
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('ocr serve does not wait for a connection still sending the body of a request it refused', async () => {
    const server = await spawnServer(['--workers', '1', '--grace-ms', String(GRACE_MS), '--max-message-mb', '1']);
    const socket = net.connect({ port: server.httpPort!, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => undefined);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    let trickle: NodeJS.Timeout | undefined;
    try {
      socket.write(`POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nContent-Type: image/png\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`);
      socket.write(Buffer.alloc(64 * 1024));
      // Answered 413 from its length; the server lingers (lingering-close.ts) while the client sends on, never quiet long.
      await once(socket, 'end');
      expect(answer).to.match(/^HTTP\/1\.1 413 /);
      trickle = setInterval(() => socket.write(Buffer.alloc(1024)), 100);
      const exited = once(server.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      const signalled = Date.now();
      server.child.kill('SIGTERM');
      const [code] = await exited;
      expect(code, server.stderr().slice(-2000)).to.equal(0);
      // Lingering would have held the exit for its 30 s.
      expect(Date.now() - signalled, 'ms from SIGTERM to exit').to.be.below(10_000);
    } finally {
      clearInterval(trickle);
      socket.destroy();
      server.child.kill('SIGKILL');
    }
  });

  it('ocr gateway does the same in front of an instance', async () => {
    const instance = await spawnServer(['--workers', '1']);
    try {
      const gateway = await spawnGateway(['--target', `ipv4:127.0.0.1:${instance.port}`, '--grace-ms', String(GRACE_MS)]);
      try {
        await sigtermDuringRequest(gateway, () => inFlight(instance));
      } finally {
        gateway.child.kill('SIGKILL');
      }
    } finally {
      instance.child.kill('SIGKILL');
    }
  });
});
