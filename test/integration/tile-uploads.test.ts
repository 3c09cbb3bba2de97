/**
 * Tile messages against a real server process with its default flags: however many streams send
 * large tiles at once, what their messages hold while they arrive is bounded by the upload gate, as
 * a unary call's request is, and what a tile holds once arrived by its decode's reservation, its
 * file and copies counted. A hundred streams over 25 connections, each sending one 28 MB tile (a
 * 64×64 PNG padded with private chunks), took a two-worker server from 0.50 to 5.91 GB resident.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { OcrClient, recognizeLargeImage } from '../../src/client/index.js';
import { atRest } from '../../src/dev/at-rest.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { residentBytes, watchPeak } from '../../src/dev/resident-memory.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { sendTileBurst } from '../support/tile-burst-caller.js';

const GB = 1e9;

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

/** The streams' codes, counted: "90 OK, 10 RESOURCE_EXHAUSTED". */
function summary(codes: string[]): string {
  const counts = new Map<string, number>();
  for (const code of codes) counts.set(code, (counts.get(code) ?? 0) + 1);
  return [...counts].map(([code, n]) => `${n} ${code}`).join(', ');
}
