/**
 * Tile messages against a real server process with its default flags: however many streams send
 * large tiles at once, what their messages hold while they arrive is bounded by the upload gate, as
 * a unary call's request is, and what a tile holds once arrived by its decode's reservation, its
 * file and copies counted. A hundred streams over 25 connections, each sending one 28 MB tile (a
 * 64×64 PNG padded with private chunks), took a two-worker server from 0.50 to 5.91 GB resident.
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Gauge } from 'prom-client';
import { OcrClient, recognizeLargeImage } from '../../src/client/index.js';
import { atRest } from '../../src/dev/at-rest.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { residentBytes, watchPeak } from '../../src/dev/resident-memory.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { TileRequest } from '../../src/gen/ocr/v1/ocr.js';
import { OCR_SERVICE } from '../../src/shared/service-name.js';
import { paddedPng } from '../support/hostile-images.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { sendTileBurst } from '../support/tile-burst-caller.js';

const GB = 1e9;
const MiB = 1024 * 1024;

// First, on a quiet process: the servers the tests below start in this one leave it busy for a while after.
describe('a burst of large tile messages against a server process with its default flags', function () {
  this.timeout(300_000);
  let server: ServerProcess;
  let client: OcrClient;
  const doc = readFileSync(path.join(EVAL_DEV, 'docs', 'd013_waybill.jpg'));
  const goodCall = async (): Promise<void> => {
    const { lines } = await recognizeLargeImage(client, doc, { tileSize: 1024 });
    expect(lines.length).to.be.above(0);
  };

  before(async () => {
    server = await spawnServer();
    client = new OcrClient(`127.0.0.1:${server.port}`, { deadlineMs: 120_000, maxAttempts: 1 });
    await goodCall();
    await atRest(server.httpPort!);
  });

  after(async () => {
    client?.close();
    server?.child.kill('SIGKILL');
  });

  it('stays under its level before + 1.5 GB, answers another channel meanwhile, and serves the next good call', async () => {
    const baseline = residentBytes(server.child.pid!);
    const memory = watchPeak(server.child.pid!);
    const burst = sendTileBurst(`127.0.0.1:${server.port}`, { streams: 100, connections: 25, megabytes: 27 });
    let peak: number;
    let codes: string[];
    try {
      await burst.sending;
      const info = await client.getServerInfo();
      expect(info.instanceId).to.equal(server.instanceId);
      codes = await burst.ended;
    } finally {
      peak = memory.stop();
    }
    console.log(`tile burst: ${(baseline / GB).toFixed(2)} GB before, peak ${(peak / GB).toFixed(2)} GB; ${summary(codes)}`);
    expect(codes).to.have.length(100);
    expect(
      codes.every((code) => code === 'OK' || code === 'RESOURCE_EXHAUSTED'),
      summary(codes),
    ).to.equal(true);
    expect(peak - baseline, 'resident memory above the level before, bytes').to.be.below(1.5 * GB);
    await goodCall();
  });
});

/** A call to the OCR service's `method` on `session` whose first message declares `declared` bytes and sends `sent` of them. */
function startUpload(session: http2.ClientHttp2Session, method: string, declared: number, sent: number): http2.ClientHttp2Stream {
  const stream = session.request(
    { ':method': 'POST', ':path': `/${OCR_SERVICE}/${method}`, 'content-type': 'application/grpc', te: 'trailers' },
    { endStream: false },
  );
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(declared, 1);
  stream.write(Buffer.concat([prefix, Buffer.alloc(sent, 1)]));
  stream.resume();
  return stream;
}

/** The status a call on `stream` ended with, and its message: in its trailers, or in its headers where it had no answer. */
function statusOf(stream: http2.ClientHttp2Stream): Promise<[number, string]> {
  const read = (headers: http2.IncomingHttpHeaders): [number, string] => [
    Number(headers['grpc-status']),
    decodeURIComponent(String(headers['grpc-message'] ?? '')),
  ];
  return new Promise((resolve) => {
    stream.once('response', (headers) => headers['grpc-status'] !== undefined && resolve(read(headers)));
    stream.once('trailers', (trailers: http2.IncomingHttpHeaders) => resolve(read(trailers)));
  });
}

describe("a tile stream's messages at the upload gate", function () {
  this.timeout(120_000);
  let t: TestServer;
  before(async () => (t = await startTestServer()));
  after(async () => t?.stop());

  /** What the requests being read hold, as /metrics shows it. */
  const uploadBytesHeld = async (): Promise<number> => {
    const gauge = t.server.metrics.registry.getSingleMetric('ocr_upload_bytes_held') as Gauge;
    return (await gauge.get()).values[0]!.value;
  };

  it("count as a connection's uploads, their held bytes reported; a fifth waits unread until one ends", async () => {
    const session = http2.connect(`http://127.0.0.1:${t.server.port}`);
    try {
      // Five streams, each 1 MiB into a declared 2 MiB tile: the connection's four uploads are read
      // (and report what they hold), the fifth waits its turn, its stream paused, its bytes not counted.
      const streams = Array.from({ length: 5 }, () => startUpload(session, 'RecognizeTiles', 2 * MiB, MiB));
      const fourHeld = 4 * (MiB + 5);
      await waitFor(async () => (await uploadBytesHeld()) === fourHeld, 30_000, 'four tile messages to be counted');
      // Two of the four leave: their places go back, and the fifth is read from its turn.
      streams[0]!.close(http2.constants.NGHTTP2_CANCEL);
      streams[1]!.close(http2.constants.NGHTTP2_CANCEL);
      await waitFor(async () => (await uploadBytesHeld()) === 3 * (MiB + 5), 30_000, 'the waiting tile message to be read');
    } finally {
      session.destroy();
    }
    await waitFor(async () => (await uploadBytesHeld()) === 0, 30_000, 'the uploads to be released');
  });
});

describe("a tile stream's idle limit beside the upload gate", function () {
  this.timeout(120_000);
  let t: TestServer;
  // A stream may wait 0.5 s for its next message; a request being read, 1.5 s for its next byte.
  before(async () => (t = await startTestServer({ limits: { maxTileStreamIdleMs: 500, maxUploadIdleMs: 1500 } })));
  after(async () => t?.stop());

  it('does not run while the gate holds the message coming: the stream is read from its turn and ends OK', async () => {
    const session = http2.connect(`http://127.0.0.1:${t.server.port}`);
    try {
      // Four Recognize requests stalled mid-upload hold the connection's four places until their own limit ends them.
      const stalled = Array.from({ length: 4 }, () => startUpload(session, 'Recognize', 2 * MiB, MiB));
      const ends = stalled.map(statusOf);
      // A whole tile of 1 MB behind them waits for a place, longer than the stream's idle limit.
      const image = await paddedPng(1, false);
      const tile = TileRequest.encode({
        imageId: 'p',
        x: 0,
        y: 0,
        imageWidth: 64,
        imageHeight: 64,
        tileIndex: 0,
        tileCount: 1,
        image,
      }).finish();
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(tile.length, 1);
      const stream = session.request(
        { ':method': 'POST', ':path': `/${OCR_SERVICE}/RecognizeTiles`, 'content-type': 'application/grpc', te: 'trailers' },
        { endStream: false },
      );
      stream.end(Buffer.concat([prefix, tile]));
      stream.resume();
      const [code, message] = await statusOf(stream);
      expect(code, message).to.equal(status.OK);
      for (const [stalledCode] of await Promise.all(ends)) expect(stalledCode).to.equal(status.DEADLINE_EXCEEDED);
    } finally {
      session.destroy();
    }
  });
});

/** The streams' codes, counted: "90 OK, 10 RESOURCE_EXHAUSTED". */
function summary(codes: string[]): string {
  const counts = new Map<string, number>();
  for (const code of codes) counts.set(code, (counts.get(code) ?? 0) + 1);
  return [...counts].map(([code, n]) => `${n} ${code}`).join(', ');
}
