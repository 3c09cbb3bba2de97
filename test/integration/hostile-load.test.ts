/**
 * The attacks of issue 15 against a real server process with its default flags: each is refused
 * with a precise status within a second or served within its budget, while a GetServerInfo from
 * another channel is answered within 200 ms, the next good call succeeds, and resident memory
 * stays under its level before + 1.5 GB; afterwards it comes back to within 300 MB of that level.
 */
import { once } from 'node:events';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import { OcrCallError, OcrClient } from '../../src/client/index.js';
import { sendBurst } from '../../src/dev/burst-caller.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { bmpFile } from '../../src/dev/bmp-file.js';
import {
  manyFrameGif,
  manyFrameWebp,
  manyPageTiff,
  os2HeaderBmp,
  repeatedScanJpeg,
  repeatedScanJpegTiff,
} from '../support/hostile-images.js';
import { startLatencyProbe } from '../../src/dev/latency-probe.js';
import { residentBytes, watchPeak } from '../../src/dev/resident-memory.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { levelsMb, warmToLevel } from '../../src/dev/warm-server.js';
import { OCR_SERVICE } from '../../src/shared/service-name.js';

const GB = 1e9;

/** The status a call ended with, and how long it took. */
async function outcome(call: Promise<unknown>): Promise<{ code: string; ms: number; details: string }> {
  const started = Date.now();
  try {
    await call;
    return { code: 'OK', ms: Date.now() - started, details: '' };
  } catch (err) {
    if (!(err instanceof OcrCallError)) throw err;
    return { code: err.code, ms: Date.now() - started, details: err.details };
  }
}

describe('hostile input and overload against a server process with its default flags', function () {
  this.timeout(300_000);
  let server: ServerProcess;
  let client: OcrClient;
  let baseline: number;
  /** The levels after each round of the warm-up, for a failure's message. */
  let warmRounds: number[];
  let doc: Buffer;
  const line = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));

  before(async () => {
    server = await spawnServer();
    const target = `127.0.0.1:${server.port}`;
    client = new OcrClient(target, { deadlineMs: 120_000, maxAttempts: 1 });
    doc = readFileSync(path.join(EVAL_DEV, 'docs', 'd001_invoice.jpg'));
    // Warm every session as a server in service has them: their arenas, sized by the largest
    // detector input they run on (960×960, a square page), are part of its level.
    ({ level: baseline, rounds: warmRounds } = await warmToLevel(server, client, doc));
  });

  after(async () => {
    client?.close();
    server?.child.kill('SIGKILL');
  });

  /**
   * The slowest GetServerInfo while the server receives and refuses `bytes` of garbage: what a
   * message that size costs the main thread before any decoder sees it (on this VM, about 200 ms
   * for 30 MB: grpc-js's buffers, on fresh pages). An attack of that size is held to it, plus a
   * margin for the noise of a maximum, so the test shows that its decoding stays off the main
   * thread (decoding a 6320×6320 BMP there froze other callers for seconds).
   */
  async function receiveStall(bytes: number): Promise<number> {
    const probe = await startLatencyProbe(`127.0.0.1:${server.port}`);
    // Twice: one sample of a maximum is noisy on a shared machine.
    for (let i = 0; i < 2; i++) expect((await outcome(client.recognize(Buffer.alloc(bytes, 1)))).code).to.equal('INVALID_ARGUMENT');
    return (await probe.stop()).slowestMs;
  }

  /** Run the attack while measuring another caller's latency and the server's peak memory. */
  async function underAttack(attack: () => Promise<void>, slowestAllowedMs = 200): Promise<void> {
    const memory = watchPeak(server.child.pid!);
    const probe = await startLatencyProbe(`127.0.0.1:${server.port}`);
    let slowest: number;
    try {
      await attack();
    } finally {
      slowest = (await probe.stop()).slowestMs;
    }
    const peak = memory.stop();
    expect(slowest, 'slowest GetServerInfo from another channel, ms').to.be.below(slowestAllowedMs);
    expect(peak - baseline, 'resident memory above the level before, bytes').to.be.below(1.5 * GB);
    const next = await client.recognizeLines([line]);
    expect(next.results[0]!.text).to.contain('各区县人民政府');
  }

  it('a 503-byte PNG asking the detector for 4096×8192 (max_side_len 8192, min_side_len 4096) is refused at once', async () => {
    const tiny = await sharp({ create: { width: 100, height: 200, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    await underAttack(async () => {
      const options = { maxSideLen: 8192, minSideLen: 4096 };
      // Deadline or not, it can never run within this server's budget: a longer deadline would not help.
      for (const deadlineMs of [1000, undefined]) {
        const r = await outcome(client.recognize(tiny, options, deadlineMs ? { deadlineMs } : {}));
        expect(r.code, r.details).to.equal('RESOURCE_EXHAUSTED');
        expect(r.details).to.match(/4096×8192.*budget/);
        expect(r.ms).to.be.below(1000);
      }
    });
  });

  it('RecognizeLines: a progressive JPEG repeating one scan 900,000 times is refused at once, deadline or not', async () => {
    const bomb = await repeatedScanJpeg();
    await underAttack(async () => {
      const calls = [2000, undefined].map((deadlineMs) => client.recognizeLines([bomb, line], undefined, deadlineMs ? { deadlineMs } : {}));
      const started = Date.now();
      for (const r of await Promise.all(calls)) {
        expect(r.results[0]!.error?.code).to.equal('INVALID_ARGUMENT');
        expect(r.results[0]!.error?.message).to.match(/more than 100 scans/);
        expect(r.results[1]!.text).to.contain('各区县人民政府');
      }
      expect(Date.now() - started).to.be.below(1000);
    });
  });

  it('a TIFF of 60 pages of 4000 unknown tags each (2.9 MB) is refused at once', async () => {
    // libtiff registers each tag it does not know, about 50 µs a tag: 11 s of CPU in libuv's pool for this one.
    const bomb = manyPageTiff(60, 4000);
    await underAttack(async () => {
      const calls = Array.from({ length: 4 }, () => outcome(client.recognize(bomb, {}, { deadlineMs: 10_000 })));
      for (const r of await Promise.all(calls)) {
        expect(r.code, r.details).to.equal('INVALID_ARGUMENT');
        expect(r.details).to.match(/directories hold more than 20000 entries/);
        expect(r.ms).to.be.below(1000);
      }
      const page = await outcome(client.recognize(doc, {}, { deadlineMs: 30_000 }));
      expect(page.code, page.details).to.equal('OK');
    });
  });

  it('a JPEG-compressed TIFF repeating one scan 50,000 times is refused at once', async () => {
    const bomb = await repeatedScanJpegTiff(50_000);
    await underAttack(async () => {
      // Four at once, as many as libuv's pool has threads, where sharp decodes a TIFF.
      const calls = Array.from({ length: 4 }, () => outcome(client.recognize(bomb, {}, { deadlineMs: 30_000 })));
      for (const r of await Promise.all(calls)) {
        expect(r.code, r.details).to.equal('INVALID_ARGUMENT');
        expect(r.details).to.match(/TIFF image's JPEG data has more than 100 scans/);
        expect(r.ms).to.be.below(1000);
      }
    });
  });

  /** POST /api/ocr with `body` as `contentType`: its status and its message. */
  async function postOcr(body: string | Buffer, contentType: string): Promise<{ status: number; msg: string }> {
    const r = await fetch(`http://127.0.0.1:${server.httpPort!}/api/ocr`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
    });
    return { status: r.status, msg: ((await r.json()) as { msg: string }).msg };
  }

  it('POST /api/ocr: a 30 MB JSON body of 10 million empty objects is refused before it is parsed', async () => {
    const body = `{"image": "", "x": [${'{},'.repeat(10_000_000)}{}]}`;
    // What receiving as many bytes costs the main thread, sent as an image body of garbage.
    const probe = await startLatencyProbe(`127.0.0.1:${server.port}`);
    for (let i = 0; i < 2; i++) expect((await postOcr(Buffer.alloc(body.length, 1), 'image/png')).status).to.equal(415);
    const allowed = Math.max(200, (await probe.stop()).slowestMs + 150);
    await underAttack(async () => {
      const r = await postOcr(body, 'application/json');
      expect(r.status).to.equal(400);
      expect(r.msg).to.match(/JSON body holds more than \d+ arrays, objects and elements/);
    }, allowed);
  });

  it('POST /api/ocr: a valid 30 MB JSON body is parsed and decoded off the main thread, line-broken or spaced out', async () => {
    // Stored without compression, a white page's PNG is as large as its pixels: 22 MB, 29 MB in base64.
    const page = await sharp({ create: { width: 2700, height: 2700, channels: 3, background: '#fff' } })
      .png({ compressionLevel: 0 })
      .toBuffer();
    const base64 = page.toString('base64');
    const bodies = [
      JSON.stringify({ image: base64, options: {} }),
      // MIME base64, 76 characters a line, as `base64` without -w0 writes it.
      JSON.stringify({ image: base64.replace(/.{76}/g, '$&\n') }),
      `{"image": "${line.toString('base64')}",${' '.repeat(29_000_000)}"options": {}}`,
    ];
    const longest = Math.max(...bodies.map((b) => b.length));
    const probe = await startLatencyProbe(`127.0.0.1:${server.port}`);
    for (let i = 0; i < 2; i++) expect((await postOcr(Buffer.alloc(longest, 1), 'image/png')).status).to.equal(415);
    const allowed = Math.max(200, (await probe.stop()).slowestMs + 150);
    await underAttack(async () => {
      for (const body of bodies) {
        const r = await postOcr(body, 'application/json');
        expect(r.status, r.msg).to.equal(200);
      }
    }, allowed);
  });

  /** A white 1-bit BMP of `side`² pixels, which the BMP decoder, in JavaScript, takes about 20 ms a megapixel to decode. */
  function whiteBmp(side: number): Buffer {
    const stride = Math.ceil(side / 32) * 4;
    return bmpFile({
      width: side,
      height: side,
      bits: 1,
      palette: new Uint8Array([0, 0, 0, 255, 255, 255]),
      data: new Uint8Array(stride * side).fill(0xff),
    });
  }

  it('RecognizeLines: six 1-bit 6320×6320 BMPs neither freeze other callers nor exceed the memory budget', async () => {
    const big = whiteBmp(6320);
    const allowed = Math.max(200, (await receiveStall(6 * big.length)) + 150);
    await underAttack(async () => {
      const r = await outcome(client.recognizeLines(Array.from({ length: 6 }, () => big)));
      expect(r.code, r.details).to.equal('RESOURCE_EXHAUSTED');
      expect(r.details).to.match(/line images needs about .* budget/);
      expect(r.ms).to.be.below(1000);
      // One alone fits, and is decoded off the main thread.
      const one = await client.recognizeLines([big]);
      expect(one.results[0]!.error).to.equal(undefined);
    }, allowed);
  });

  it('RecognizeTiles: tiles that are 1-bit 4000×4000 BMPs are decoded off the main thread', async () => {
    // Each alone on its image, so that its canvas, its pixels and its decode fit the budget together.
    const big = whiteBmp(4000);
    const allowed = Math.max(200, (await receiveStall(big.length)) + 150);
    await underAttack(async () => {
      const call = client.recognizeTiles({ deadlineMs: 120_000 });
      const answers = (async () => {
        const images: string[] = [];
        for await (const m of call) if (m.result?.$case === 'image') images.push(m.imageId);
        return images;
      })();
      for (let i = 0; i < 3; i++) {
        const tile = { imageId: `page${i}`, x: 0, y: 0, imageWidth: 4000, imageHeight: 4000, tileIndex: 0, tileCount: 1 };
        await call.write({ ...tile, image: big, options: undefined });
      }
      call.end();
      expect(await answers).to.deep.equal(['page0', 'page1', 'page2']);
    }, allowed);
  });

  it('a BMP whose 12-byte OS/2 header says 8×8 is never decoded as a larger image', async () => {
    const bmp = os2HeaderBmp();
    const allowed = Math.max(200, (await receiveStall(bmp.length)) + 150);
    await underAttack(async () => {
      const r = await outcome(client.recognize(bmp));
      expect(r.code, r.details).to.equal('INVALID_ARGUMENT');
      expect(r.ms).to.be.below(1000);
    }, allowed);
  });

  it('30 calls of a 1.4 KB lossless WebP that decodes to 6000×6000 wait for memory instead of holding it all', async () => {
    const bomb = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#fff' } })
      .webp({ lossless: true })
      .toBuffer();
    expect(bomb.length).to.be.below(20_000);
    await underAttack(async () => {
      const results = await Promise.all(Array.from({ length: 30 }, () => outcome(client.recognize(bomb))));
      for (const r of results) expect(['OK', 'RESOURCE_EXHAUSTED'], r.details).to.include(r.code);
      expect(results.filter((r) => r.code === 'OK').length).to.be.above(0);
    });
  });

  it('WebPs, GIFs and TIFFs of tens of thousands of frames or pages are refused at once, and pages that sharp decodes are still read', async () => {
    // 100,000 WebP frames (5 MB) held a thread of libuv's pool for about 20 s; 20,000 GIF frames or TIFF pages cost a second or two.
    const files = [await manyFrameWebp(100_000), manyFrameGif(20_000), manyPageTiff(20_000)];
    await underAttack(async () => {
      for (const file of files) {
        // Four at once, as many as libuv's pool has threads: sharp reads and decodes these there.
        const calls = Array.from({ length: 4 }, () => outcome(client.recognize(file, {}, { deadlineMs: 10_000 })));
        for (const r of await Promise.all(calls)) {
          expect(r.code, r.details).to.equal('INVALID_ARGUMENT');
          expect(r.details).to.match(/more than 1000 (chunks|frames|pages).*send that (frame|page) alone/);
          expect(r.ms).to.be.below(1000);
        }
      }
      const page = await outcome(client.recognize(doc, {}, { deadlineMs: 30_000 }));
      expect(page.code, page.details).to.equal('OK');
    });
  });

  // Load rather than an attack on one call: what other callers see under it is bench:overload's to measure.
  it('overload is refused fast with a retry hint, and no call is answered after its deadline', async () => {
    // A deadline of a few documents' time on this machine, 3 s at least: on a core several times
    // slower than the one this was written on, 3 s held two documents, and when the machine slowed
    // no call admitted could finish within it, two workers sharing two cores with the refusals.
    const started = performance.now();
    await client.recognize(doc);
    const deadlineMs = Math.max(3000, Math.ceil(4 * (performance.now() - started)));
    const results = await Promise.all(Array.from({ length: 40 }, () => outcome(client.recognize(doc, undefined, { deadlineMs }))));
    const refused = results.filter((r) => r.code === 'RESOURCE_EXHAUSTED');
    expect(refused.length, `calls refused: ${JSON.stringify(results.map((r) => [r.code, r.ms]))}`).to.be.above(0);
    // All 40 start at once on one connection, 21 MB of requests: the refusals wait for those
    // bytes. The bound at p99 under a steady load is bench:overload's (docs/BENCHMARKS.md).
    for (const r of refused) {
      expect(r.ms).to.be.below(1000);
      // With more work ahead than its deadline leaves, the hint is for a new call rather than a retry.
      expect(r.details).to.match(/server busy.*(retry in|send it again in) \d+ ms/);
    }
    expect(results.filter((r) => r.code === 'OK').length, 'calls answered').to.be.above(0);
    for (const r of results.filter((r) => r.code === 'OK')) expect(r.ms).to.be.below(deadlineMs);
    expect(results.filter((r) => r.code === 'DEADLINE_EXCEEDED').length, 'calls past their deadline').to.be.at.most(1);
  });

  it('100 concurrent calls of a 30 MB image are each answered, and their memory does not stay', async () => {
    // No deadline: 3 GB take this machine's loopback HTTP/2 most of a minute to carry.
    const results = await sendBurst(`127.0.0.1:${server.port}`, 100, 30_000_000);
    for (const r of results) expect(['OK', 'RESOURCE_EXHAUSTED'], r.details).to.include(r.code);
    expect(results.filter((r) => r.code === 'OK').length).to.be.above(0);
    expect((await client.recognizeLines([line])).results[0]!.text).to.contain('各区县人民政府');
  });

  it('memory comes back after the bursts: within 300 MB of the level before', async () => {
    let above = NaN;
    await waitFor(
      () => (above = residentBytes(server.child.pid!) - baseline) < 300e6,
      60_000,
      'resident memory back within 300 MB',
      500,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}: ${(above / 1e6).toFixed(0)} MB above the level before (${(baseline / 1e9).toFixed(2)} GB; ` +
          `after each round of the warm-up: ${levelsMb(warmRounds)} MB)`,
      );
    });
  });
});

describe('a burst on a fresh instance', function () {
  this.timeout(120_000);

  it('admits no more than it answers in time: of 40 calls at once, none ends DEADLINE_EXCEEDED', async () => {
    // Its estimates start from this machine's speed, not figures of another one (a core 3.4 times
    // slower admitted twice what it could answer, and 2 of 40 ended late).
    const server = await spawnServer(['--log-level', 'info']);
    const client = new OcrClient(`127.0.0.1:${server.port}`, { deadlineMs: 120_000, maxAttempts: 1 });
    try {
      await waitFor(() => /work estimates calibrated to this machine/.test(server.stderr()), 30_000, 'the calibration');
      const doc = readFileSync(path.join(EVAL_DEV, 'docs', 'd001_invoice.jpg'));
      let soloMs = 0;
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await client.recognize(doc);
        soloMs = performance.now() - started;
      }
      const deadlineMs = Math.ceil(4 * soloMs);
      const results = await Promise.all(Array.from({ length: 40 }, () => outcome(client.recognize(doc, undefined, { deadlineMs }))));
      const summary = JSON.stringify(results.map((r) => [r.code, r.ms]));
      expect(results.filter((r) => r.code === 'OK').length, summary).to.be.above(0);
      for (const r of results) expect(['OK', 'RESOURCE_EXHAUSTED'], summary).to.include(r.code);
      for (const r of results.filter((r) => r.code === 'OK')) expect(r.ms, summary).to.be.below(deadlineMs);
    } finally {
      client.close();
      server.child.kill('SIGKILL');
    }
  });
});

describe('a crowd of refusals falling due together', function () {
  this.timeout(120_000);

  it("is answered a slice at a time: another caller's GetServerInfo waits under 200 ms", async () => {
    // 1,400 calls arrive gently over half a second, each refused for load from its headers and held for
    // half the time it has left (the pace, at its longest, does not bound it): their deadlines are chosen
    // so that every hold ends at the same moment, as when a flood arrives at once (bench:flood),
    // but without the arrival's own cost. Answered in one turn, they kept another caller waiting
    // 250 ms and more.
    const server = await spawnServer(['--refusal-pace-ms', '1000']);
    const target = `127.0.0.1:${server.port}`;
    const client = new OcrClient(target, { deadlineMs: 120_000, maxAttempts: 1 });
    const sessions = Array.from({ length: 14 }, () => http2.connect(`http://${target}`).on('error', () => undefined));
    let probe: Awaited<ReturnType<typeof startLatencyProbe>> | undefined;
    try {
      const doc = readFileSync(path.join(EVAL_DEV, 'docs', 'd001_invoice.jpg'));
      // Work ahead for longer than the test: the calls below find no room in their deadlines.
      for (let i = 0; i < 8; i++) client.recognize(doc).catch(() => undefined);
      for (let i = 0; ; i++) {
        const { code } = await outcome(client.recognize(doc, undefined, { deadlineMs: 400 }));
        if (code === 'RESOURCE_EXHAUSTED') break;
        expect(i, 'the server refusing for load').to.be.below(50);
      }
      const request = Buffer.alloc(16 * 1024, 1);
      probe = await startLatencyProbe(target);
      const dueAt = performance.now() + 1000;
      const statuses: string[] = [];
      const answered: Array<Promise<unknown>> = [];
      // As many as the client can send before they fall due, 1,400 at most: its own pace varies.
      for (let batch = 0; batch < 2 * sessions.length; batch++) {
        const timeoutMs = Math.floor(2 * (dueAt - performance.now()));
        if (timeoutMs < 100) break;
        for (let i = 0; i < 50; i++) {
          const stream = sessions[batch % sessions.length]!.request(
            {
              ':method': 'POST',
              ':path': `/${OCR_SERVICE}/Recognize`,
              'content-type': 'application/grpc',
              te: 'trailers',
              'grpc-timeout': `${timeoutMs}m`,
            },
            { endStream: false },
          );
          stream.on('error', () => undefined);
          // The start of a request, as far as the call's window lets it: the server holds it until the stream ends.
          stream.write(request);
          stream.once('response', (headers) => statuses.push(String(headers['grpc-status'])));
          answered.push(once(stream, 'close'));
        }
        // Spread out, so that no turn of the server's event loop takes many arrivals at once.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await Promise.all(answered);
      const { slowestMs } = await probe.stop();
      probe = undefined;
      expect(answered.length, 'calls in the crowd').to.be.at.least(1000);
      expect(statuses.filter((s) => s === '8').length, 'answered RESOURCE_EXHAUSTED').to.equal(answered.length);
      expect(slowestMs, 'slowest GetServerInfo from another channel, ms').to.be.below(200);
    } finally {
      await probe?.stop();
      sessions.forEach((s) => s.destroy());
      client.close();
      server.child.kill('SIGKILL');
    }
  });
});

describe('shutdown under load', function () {
  this.timeout(120_000);

  it('SIGTERM while a model call outlasts the grace period exits 0 within the grace period + 1 s', async () => {
    const graceMs = 300;
    const server = await spawnServer(['--grace-ms', String(graceMs), '--log-level', 'debug']);
    const client = new OcrClient(`127.0.0.1:${server.port}`, { deadlineMs: 120_000, maxAttempts: 1 });
    try {
      const doc = readFileSync(path.join(EVAL_DEV, 'docs', 'd001_invoice.jpg'));
      // A detector pass at 2048 px on one thread takes seconds: it is still running when the grace period ends.
      const call = outcome(client.recognize(doc, { maxSideLen: 2048 }));
      // The call is received; its decode takes tens of milliseconds, its detector pass seconds.
      await waitFor(() => /"msg":"received"/.test(server.stderr()), 30_000, 'the call to arrive');
      const signalled = Date.now();
      server.child.kill('SIGTERM');
      const [code] = (await once(server.child, 'exit')) as [number | null];
      const elapsed = Date.now() - signalled;
      expect(code, server.stderr().slice(-2000)).to.equal(0);
      expect(elapsed).to.be.below(graceMs + 1000);
      expect((await call).code).to.not.equal('OK');
    } finally {
      client.close();
      server.child.kill('SIGKILL');
    }
  });
});
