import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { REFUSAL_LOG_INTERVAL_MS } from '../../src/auth/refusal-log.js';
import { OcrClient, type OcrCallError } from '../../src/client/index.js';
import { freePort } from '../../src/dev/free-port.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { textImage } from '../support/images.js';
import { logLines } from '../support/log-lines.js';

/** The value of the sample `name` of a scrape that carries every label of `labels`, in whatever order. */
function sample(scrape: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of scrape.split('\n')) {
    const parts = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (parts?.[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => parts[2]!.split(',').includes(`${k}="${v}"`))) return Number(parts[3]);
  }
  return undefined;
}

/** The head of the answer to a POST /api/ocr without a token whose chunked body goes on (never ends). */
async function endlessUpload(port: number): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write('POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n');
  socket.write(`10000\r\n${'x'.repeat(0x10000)}\r\n`);
  let answer = '';
  for await (const chunk of socket) {
    answer += (chunk as Buffer).toString();
    if (answer.includes('\r\n\r\n')) break;
  }
  socket.destroy();
  return answer.slice(0, answer.indexOf('\r\n\r\n'));
}

describe('a flood of calls with bad tokens', function () {
  this.timeout(240_000);
  const FLOOD = 30;
  const admin = generateApiKey();
  const unknown = `ocr_${'W'.repeat(43)}`;
  let server: ServerProcess;

  before(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-auth-flood-'));
    const keyFile = path.join(dir, 'keys.json');
    writeFileSync(keyFile, JSON.stringify([{ name: 'ops', hash: hashApiKey(admin), scopes: ['ocr:admin'] }]));
    server = await spawnServer(['--api-keys', keyFile, '--log-level', 'info']);
  });
  after(async () => {
    if (server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await once(server.child, 'exit');
    }
  });

  it('is answered at the refusal pace, logged at warn once per source and kind with a count of the rest, and counted', async () => {
    const image = await textImage('Token 42');
    const target = `127.0.0.1:${server.port}`;
    const bad = new OcrClient(target, { token: unknown, maxAttempts: 1 });
    const none = new OcrClient(target, { maxAttempts: 1 });
    const floodStarted = performance.now();
    try {
      for (const client of [bad, none]) {
        for (let i = 0; i < FLOOD; i++) {
          const err = await client.recognize(image).catch((e: unknown) => e);
          expect((err as OcrCallError).code).to.equal('UNAUTHENTICATED');
        }
      }
    } finally {
      bad.close();
      none.close();
    }
    const http = `http://127.0.0.1:${server.httpPort!}`;
    for (let i = 0; i < FLOOD; i++) {
      const res = await fetch(`${http}/api/ocr`, {
        method: 'POST',
        headers: { authorization: `Bearer ${unknown}`, 'content-type': 'image/png' },
        body: image,
      });
      expect(res.status).to.equal(401);
    }
    const floodMs = performance.now() - floodStarted;
    const scrape = await (await fetch(`${http}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).text();
    // Every refusal held for the pace (50 ms): none answered within 25 ms of its arrival.
    const grpc = { method: 'Recognize', code: 'UNAUTHENTICATED' };
    expect(sample(scrape, 'ocr_request_error_duration_seconds_count', grpc)).to.equal(2 * FLOOD);
    expect(sample(scrape, 'ocr_request_error_duration_seconds_bucket', { ...grpc, le: '0.025' })).to.equal(0);
    expect(sample(scrape, 'ocr_requests_total', grpc)).to.equal(2 * FLOOD);
    expect(sample(scrape, 'ocr_http_requests_total', { route: '/api/ocr', status: '401' })).to.equal(FLOOD);
    // Timed with the HTTP refusals, apart from the answered requests (http-metrics.ts), as gRPC's are.
    const http401 = { route: '/api/ocr', status: '401' };
    expect(sample(scrape, 'ocr_http_request_error_duration_seconds_count', http401)).to.equal(FLOOD);
    expect(sample(scrape, 'ocr_http_request_error_duration_seconds_bucket', { ...http401, le: '0.025' })).to.equal(0);

    server.child.kill('SIGTERM');
    await once(server.child, 'close'); // Not 'exit': its last log lines may still be in the pipe then.
    const lines = logLines<{ level: number; msg: string; source?: string; code?: string; reason?: string; refused?: number }>(
      server.stderr(),
    );
    const first = lines.filter((l) => l.msg === 'refused');
    const counts = lines.filter((l) => / more refused from /.test(l.msg));
    // Every refusal is on a line, whole or counted, at warn, whatever the intervals.
    const accounted = first.length + counts.reduce((sum, l) => sum + l.refused!, 0);
    expect([...new Set([...first, ...counts].map((l) => l.level))], server.stderr()).to.deep.equal([40]);
    expect(accounted, server.stderr()).to.equal(3 * FLOOD);
    // A flood longer than the log's interval (10 s from its first refusal: a slow machine) is logged
    // whole again in the next; one within it, as follows.
    if (floodMs >= REFUSAL_LOG_INTERVAL_MS) return;
    // One line for each kind, whole, at warn: an unknown key (gRPC, and HTTP counted with it), no token.
    expect(first.map((l) => [l.level, l.source, l.code])).to.deep.equal([
      [40, 'addr:127.0.0.1', 'UNAUTHENTICATED'],
      [40, 'addr:127.0.0.1', 'UNAUTHENTICATED'],
    ]);
    // The rest counted, said when the server stopped.
    expect(counts.map((l) => [l.level, l.refused, l.reason?.slice(0, 15)])).to.deep.equal([
      [40, 2 * FLOOD - 1, 'unknown API key'],
      [40, FLOOD - 1, 'no token: send '],
    ]);
    expect(counts[0]!.msg).to.match(new RegExp(`^${2 * FLOOD - 1} more refused from addr:127\\.0\\.0\\.1 in the last [\\d.]+ s$`));
  });
});

describe('a flood of scrapes without a token on --metrics-port', function () {
  this.timeout(120_000);

  it('is logged as on the HTTP port: at warn once, with a count of the rest', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-auth-scrape-'));
    const keyFile = path.join(dir, 'keys.json');
    writeFileSync(keyFile, '[]');
    const metricsPort = await freePort();
    const server = await spawnServer(['--api-keys', keyFile, '--metrics-port', String(metricsPort)]);
    try {
      for (let i = 0; i < 5; i++) expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).to.equal(401);
    } finally {
      server.child.kill('SIGTERM');
      await once(server.child, 'close'); // Not 'exit': its last log lines may still be in the pipe then.
    }
    const lines = logLines<{ level: number; msg: string; route?: string; source?: string; refused?: number }>(server.stderr());
    expect(lines.filter((l) => l.msg === 'refused').map((l) => [l.level, l.route, l.source])).to.deep.equal([
      [40, '/metrics', 'addr:127.0.0.1'],
    ]);
    expect(lines.filter((l) => / more refused from /.test(l.msg)).map((l) => l.refused)).to.deep.equal([4]);
  });
});

describe('a caller looping past its quota', function () {
  this.timeout(120_000);
  let server: ServerProcess;

  before(async () => {
    // By address, without tokens: one call, then none for 1000 s.
    server = await spawnServer(['--quota-rps', '0.001', '--quota-burst', '1', '--log-level', 'info']);
  });
  after(async () => {
    if (server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await once(server.child, 'exit');
    }
  });

  it('is logged at info once, with a count of the rest, over gRPC and HTTP alike', async () => {
    const looping = new OcrClient(`127.0.0.1:${server.port}`, { maxAttempts: 1 });
    const loopStarted = performance.now();
    try {
      await looping.getServerInfo();
      for (let i = 0; i < 20; i++) {
        const err = await looping.getServerInfo().catch((e: unknown) => e);
        expect((err as OcrCallError).details).to.match(/^over the quota of addr:127\.0\.0\.1: /);
      }
    } finally {
      looping.close();
    }
    for (let i = 0; i < 2; i++) expect((await fetch(`http://127.0.0.1:${server.httpPort!}/api/info`)).status).to.equal(429);
    const loopMs = performance.now() - loopStarted;
    server.child.kill('SIGTERM');
    await once(server.child, 'close'); // Not 'exit': its last log lines may still be in the pipe then.
    const lines = logLines<{ level: number; msg: string; source?: string; refused?: number }>(server.stderr());
    const first = lines.filter((l) => l.msg === 'refused');
    const counts = lines.filter((l) => / more refused from /.test(l.msg));
    // Every refusal on a line, whole or counted, at info, whatever the log's intervals (as above).
    expect([...new Set([...first, ...counts].map((l) => l.level))], server.stderr()).to.deep.equal([30]);
    expect(first.length + counts.reduce((sum, l) => sum + l.refused!, 0), server.stderr()).to.equal(22);
    if (loopMs >= REFUSAL_LOG_INTERVAL_MS) return;
    expect(first.map((l) => [l.level, l.source])).to.deep.equal([[30, 'addr:127.0.0.1']]);
    expect(counts.map((l) => [l.level, l.refused])).to.deep.equal([[30, 21]]);
  });
});

describe('an upload refused for its token', function () {
  this.timeout(120_000);
  let server: ServerProcess;

  before(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-auth-upload-'));
    const keyFile = path.join(dir, 'keys.json');
    writeFileSync(keyFile, '[]');
    server = await spawnServer(['--api-keys', keyFile]);
  });
  after(async () => {
    server.child.kill('SIGTERM');
    await once(server.child, 'exit');
  });

  it('has its connection closed, not its endless body read to keep the connection: a caller without a token costs its headers', async () => {
    const head = await endlessUpload(server.httpPort!);
    expect(head).to.match(/^HTTP\/1\.1 401 /);
    expect(head.toLowerCase()).to.include('\r\nconnection: close');
  });
});
