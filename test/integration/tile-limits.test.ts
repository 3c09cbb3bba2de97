import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import { OcrCallError, recognizeLargeImage, TiledImage, TileStream, type TileRequest, type TileResponse } from '../../src/client/index.js';
import type { MemoryBudget, Reservation } from '../../src/engine/admission/memory-budget.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { errorAnswerTimes } from '../support/error-latency.js';
import { cutLinesPage, solidImage, wholeCutLines } from '../support/images.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { waitFor } from '../../src/dev/wait-for.js';

const MiB = 1024 * 1024;

/** The most the budget held right after any of its grants: the peak, as usedBytes only grows on a grant. */
function watchPeak(budget: MemoryBudget): { readonly peak: number } {
  const watch = { peak: 0 };
  const note = <T>(r: T): T => {
    watch.peak = Math.max(watch.peak, budget.usedBytes);
    return r;
  };
  const reserve = budget.reserve.bind(budget);
  const tryReserve = budget.tryReserve.bind(budget);
  budget.reserve = (bytes, options) => reserve(bytes, options).then(note);
  budget.tryReserve = (bytes, priority) => note(tryReserve(bytes, priority));
  return watch;
}

/** A call's answers, and the status it ended with (null for OK). */
function readAll(call: AsyncIterable<TileResponse>): Promise<{ answers: TileResponse[]; error: OcrCallError | null }> {
  return (async () => {
    const answers: TileResponse[] = [];
    try {
      for await (const m of call) answers.push(m);
    } catch (err) {
      expect(err).to.be.instanceOf(OcrCallError);
      return { answers, error: err as OcrCallError };
    }
    return { answers, error: null };
  })();
}

function expectStatus(error: OcrCallError | null, code: string, details: RegExp): void {
  expect(error, `expected ${code}, the call ended OK`).to.not.equal(null);
  expect(error!.code, error!.details).to.equal(code);
  expect(error!.details).to.match(details);
}

/** Near-white noise: no text to read, and PNG cannot shrink it much, so each tile is a large message. */
async function noiseTile(side: number): Promise<Buffer> {
  const pixels = Buffer.alloc(side * side * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = 240 + Math.floor(Math.random() * 16);
  return sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
    .png({ compressionLevel: 1 })
    .toBuffer();
}

const firstTile = (imageId: string, imageWidth: number, imageHeight: number, image: Buffer): TileRequest => ({
  imageId,
  x: 0,
  y: 0,
  imageWidth,
  imageHeight,
  tileIndex: 0,
  tileCount: 2,
  image,
  options: undefined,
});

describe('RecognizeTiles limits', function () {
  this.timeout(120_000);
  const BUDGET = 32 * MiB;
  let t: TestServer;
  let budget: MemoryBudget;
  let small: Buffer;
  let patch: Buffer;
  before(async () => {
    t = await startTestServer({
      engine: { memoryBudgetBytes: BUDGET },
      limits: { maxImagesPerStream: 2, maxTileStreamsPerConnection: 2 },
    });
    budget = t.server.engine.budget;
    small = readFileSync(path.join(EVAL_DEV, 'docs', 'd013_waybill.jpg'));
    patch = await solidImage(64, 64);
  });
  after(async () => t?.stop());

  afterEach(async () => {
    await waitFor(() => budget.usedBytes === 0 && budget.waiting === 0, 10_000, 'the budget to be given back');
    // A cancelled stream's reads may still be running; the next test starts on a quiet engine.
    await waitFor(() => t.server.engine.inFlight === 0, 30_000, 'the engine to finish');
  });

  it("holds a tile's decode from the budget while it runs, at a page's rate, and gives it back", async () => {
    const asked: number[] = [];
    const reserve = budget.reserve.bind(budget);
    budget.reserve = (bytes, options) => {
      asked.push(bytes);
      return reserve(bytes, options);
    };
    try {
      const call = t.client.recognizeTiles();
      const reading = readAll(call);
      await call.write({ ...firstTile('page', 64, 64, patch), tileCount: 1 });
      call.end();
      const { error } = await reading;
      expect(error).to.equal(null);
    } finally {
      budget.reserve = reserve;
    }
    // The canvas and the tile's pixels until read (3 bytes a pixel each), and the rest of its decode's meanwhile.
    expect(asked).to.deep.equal([64 * 64 * 3, 64 * 64 * 3, t.server.engine.decodingBytes({ width: 64, height: 64 }) - 64 * 64 * 3]);
  });

  it('an image larger than the whole budget is refused at its first tile and holds no canvas', async () => {
    const watch = watchPeak(budget);
    const call = t.client.recognizeTiles();
    const reading = readAll(call);
    // 6000×6000 declares a 103 MiB canvas, more than the 32 MiB budget.
    await call.write(firstTile('huge', 6000, 6000, patch));
    const { error } = await reading;
    expectStatus(
      error,
      'RESOURCE_EXHAUSTED',
      /image 'huge' \(6000x6000 canvas\) needs about 103 MiB.*budget of 32 MiB.*no retry can fit it: downscale the image or split it into separate images/,
    );
    // It is already in tiles, and options do not shrink a canvas.
    expect(error!.details).to.not.match(/send it as tiles|max_side_len/);
    expect(error!.metadata.get('grpc-retry-pushback-ms')).to.deep.equal(['-1']);
    expect(watch.peak).to.equal(0);
    const r = await t.client.recognize(small);
    expect(r.lines.length).to.be.greaterThan(10);
  });

  describe('a tile that can never fit beside its own canvas', () => {
    /** A white side×side tile: small to send, its decode and read as large as any. */
    const whiteTile = (side: number): Promise<Buffer> => solidImage(side, side);

    /** Sends `tile` as the first of two tiles of a 2000×2000 image: its status, how long it took, the messages before it. */
    const sendFirst = async (
      tile: Buffer,
      options?: TileRequest['options'],
    ): Promise<{ error: OcrCallError | null; ms: number; answers: TileResponse[] }> => {
      const call = t.client.recognizeTiles();
      const started = Date.now();
      const answers: TileResponse[] = [];
      const reading = (async () => {
        for await (const m of call) {
          answers.push(m);
          // The tile fitted and was read: that is all this asks.
          call.cancel();
        }
      })();
      await call.write({ ...firstTile('scan', 2000, 2000, tile), options });
      const error = await reading.then(
        () => null,
        (err: unknown) => err as OcrCallError,
      );
      return { error, ms: Date.now() - started, answers };
    };

    /** The side the refusal says tiles may have at most. */
    const advisedSide = (error: OcrCallError): number => Number(/at most (\d+) px a side/.exec(error.details)?.[1]);

    it('its decode: refused at once, not retryable, with the largest tile side that fits, which does', async () => {
      // The 2000×2000 canvas takes 11.4 MiB of the 32; a 1400×1400 tile's decode 22.4 MiB more, while its
      // read (detector at 320 px) would fit. It waited the 30 s idle limit and was told to retry later.
      const options = { maxSideLen: 320 };
      const { error, ms } = await sendFirst(await whiteTile(1400), options);
      expectStatus(
        error,
        'RESOURCE_EXHAUSTED',
        /image 'scan' tile 0 \(1400x1400\) needs about 22\.4 MiB to decode beside its image's 2000x2000 canvas \(11\.4 MiB\), more than this server's whole memory budget of 32 MiB.*send tiles of at most \d+ px a side.*--memory-budget-mb/,
      );
      expect(error!.details).to.not.match(/retry later/);
      expect(error!.metadata.get('grpc-retry-pushback-ms')).to.deep.equal(['-1']);
      expect(ms).to.be.below(2000);
      const side = advisedSide(error!);
      expect(side).to.be.within(1000, 1399);
      await waitFor(() => budget.usedBytes === 0, 10_000, 'the refused stream to give back its canvas');
      // The advice works, and is the largest that does.
      const fits = await sendFirst(await whiteTile(side), options);
      expect(fits.answers.map((a) => a.result?.$case)).to.deep.equal(['tile']);
      expectStatus(fits.error, 'CANCELLED', /./);
      await waitFor(() => budget.usedBytes === 0, 10_000, 'the cancelled stream to give back its canvas');
      expectStatus((await sendFirst(await whiteTile(side + 1), options)).error, 'RESOURCE_EXHAUSTED', /to decode beside/);
    });

    it('its read: refused at once (it waited for the deadline), with the largest tile side that fits, which does', async () => {
      // A 960×960 tile decodes beside the canvas (10.5 MiB), but its read holds its pixels (2.6 MiB) and
      // its detector's input (21.1 MiB) beside the canvas: 35.2 MiB.
      const { error, ms } = await sendFirst(await whiteTile(960));
      expectStatus(
        error,
        'RESOURCE_EXHAUSTED',
        /image 'scan' tile 0 \(960x960\) needs about 23\.7 MiB to be read beside its image's 2000x2000 canvas \(11\.4 MiB\), more than this server's whole memory budget of 32 MiB.*send tiles of at most \d+ px a side/,
      );
      expect(error!.metadata.get('grpc-retry-pushback-ms')).to.deep.equal(['-1']);
      expect(ms).to.be.below(2000);
      const side = advisedSide(error!);
      expect(side).to.be.within(500, 959);
      await waitFor(() => budget.usedBytes === 0, 10_000, 'the refused stream to give back its canvas');
      const fits = await sendFirst(await whiteTile(side));
      expect(fits.answers.map((a) => a.result?.$case)).to.deep.equal(['tile']);
    });

    it('a canvas that leaves no room for any tile: refused at its first tile, saying to downscale or split the image', async () => {
      // 3200×3200 is 29.3 MiB of the 32: not even a read of an 8 px tile (its detector at 512×512, 6 MiB) fits beside it.
      const call = t.client.recognizeTiles();
      const reading = readAll(call);
      await call.write(firstTile('wide', 3200, 3200, patch));
      const { error } = await reading;
      expectStatus(
        error,
        'RESOURCE_EXHAUSTED',
        /image 'wide' tile 0 \(64x64\) needs about .* MiB to be read beside its image's 3200x3200 canvas \(29\.3 MiB\).*no tile of 64 px a side or more \(in at most 1024 tiles\) fits beside that canvas: downscale the image or split it into separate images/,
      );
    });
  });

  it("an image whose canvas alone fills the stream's share is read whole (it stalled after its first tile)", async () => {
    // 2000×1500 is 8.6 MiB, past the 8 MiB share: the stream is full from its first tile to its last.
    // On the default 512 MiB budget, any image over 45 Mpx.
    const page = await solidImage(2000, 1500);
    const tiles: number[] = [];
    const r = await recognizeLargeImage(t.client, page, { tileSize: 800, deadlineMs: 30_000, onTile: (tl) => tiles.push(tl.tileIndex) });
    expect(r.tiles).to.be.at.least(4);
    expect(tiles.sort((a, b) => a - b)).to.deep.equal([...Array(r.tiles).keys()]);
  });

  describe('the lines tile borders cut are re-read a part at a time, as many as fit beside the canvas', () => {
    for (const [count, before] of [
      [30, 'all at once, 30 MiB beside the 4.3 MiB canvas, they waited for room that never came'],
      [40, "all at once, 40 MiB, they were refused as more than the budget, to 'send it as tiles'"],
    ] as const) {
      it(`${count} cut lines on a 32 MiB budget (${before})`, async () => {
        const r = await recognizeLargeImage(t.client, await cutLinesPage(count), { tileSize: 900, deadlineMs: 30_000 });
        // Each read whole, once: "12 alpha … lima 12".
        const numbers = wholeCutLines(r.lines.map((l) => l.text));
        expect(new Set(numbers).size, r.lines.map((l) => l.text).join('\n')).to.equal(numbers.length);
        expect(numbers.length, r.lines.map((l) => l.text).join('\n')).to.be.at.least(count - 2);
      });
    }
  });

  it("images sent one after another, each image's tiles together, wait for the last one's read rather than being refused", async () => {
    // Each 1500×1000 canvas is 4.3 MiB: two are past the 8 MiB share. 'b' came while 'a', whose
    // tiles were all in, was still being read, and was refused "send an image's tiles together".
    const quarter = await solidImage(750, 500);
    const call = t.client.recognizeTiles();
    const reading = readAll(call);
    for (const imageId of ['a', 'b', 'c']) {
      for (let i = 0; i < 4; i++) {
        const at = { x: (i % 2) * 750, y: Math.floor(i / 2) * 500 };
        await call.write({ imageId, ...at, imageWidth: 1500, imageHeight: 1000, tileIndex: i, tileCount: 4, image: quarter });
      }
    }
    call.end();
    const { answers, error } = await reading;
    expect(error, error?.details).to.equal(null);
    expect(answers.filter((a) => a.result?.$case === 'image').map((a) => a.imageId)).to.deep.equal(['a', 'b', 'c']);
  });

  it("the SDK's TileStream sends images asked for at once one after another, so that their canvases need not share the stream's share", async () => {
    // Two 1500×1000 canvases are past the 8 MiB share: their tiles interleaved, the stream was refused
    // ("send an image's tiles together before starting the next") and both images failed.
    const image = await TiledImage.decode(await solidImage(1500, 1000));
    const stream = new TileStream(t.client.recognizeTiles());
    const results = await Promise.all(['one', 'two', 'three'].map((imageId) => stream.recognize(image, { tileSize: 600, imageId })));
    stream.end();
    expect(results.map((r) => [r.width, r.height, r.tiles])).to.deep.equal(Array(3).fill([1500, 1000, 6]));
  });

  it('an image started while another on the stream still misses tiles, past the share: refused, naming it', async () => {
    const quarter = await solidImage(750, 500);
    const call = t.client.recognizeTiles();
    const reading = readAll(call);
    for (const imageId of ['a', 'b']) {
      await call.write({ imageId, x: 0, y: 0, imageWidth: 1500, imageHeight: 1000, tileIndex: 0, tileCount: 4, image: quarter });
    }
    call.end();
    expectStatus(
      (await reading).error,
      'RESOURCE_EXHAUSTED',
      /image 'b' \(1500x1000\) would put the canvases of this stream's open images at 9 MiB, past its 8 MiB share .*'a' still miss tiles.*send an image's tiles together before starting the next, or send this image on another stream/,
    );
  });

  it('more images open on a stream than the limit: RESOURCE_EXHAUSTED naming them', async () => {
    const call = t.client.recognizeTiles();
    const reading = readAll(call);
    for (const id of ['a', 'b', 'c']) await call.write(firstTile(id, 128, 64, patch));
    call.end();
    const { error } = await reading;
    expectStatus(error, 'RESOURCE_EXHAUSTED', /image 'c' would be image 3 open on this stream, past the server's limit of 2 \('a', 'b'/);
  });

  it('more streams on a connection than the limit: the extra one gets RESOURCE_EXHAUSTED, and a stream ending frees its place', async () => {
    const open = [t.client.recognizeTiles(), t.client.recognizeTiles()];
    const openReads = open.map(readAll);
    // Each stream holds a canvas once its first tile is in: then the server surely counts it.
    for (const call of open) await call.write(firstTile('a', 128, 64, patch));
    await waitFor(() => budget.usedBytes === 2 * 128 * 64 * 3, 10_000, 'both streams to hold their canvas');
    const extra = t.client.recognizeTiles();
    const { error } = await readAll(extra);
    expectStatus(error, 'RESOURCE_EXHAUSTED', /already has 2 RecognizeTiles streams open/);

    open[0]!.cancel();
    expectStatus((await openReads[0]!).error, 'CANCELLED', /./);
    await waitFor(() => budget.usedBytes === 128 * 64 * 3, 10_000, 'the server to close the cancelled stream');
    const r = await recognizeLargeImage(t.client, small, { tileSize: 700 });
    expect(r.lines.length).to.be.greaterThan(10);
    open[1]!.cancel();
    await openReads[1];
  });

  describe('backpressure', () => {
    const SIDE = 1200;
    const TILES = 30;
    let tiles: Buffer[];
    before(async () => {
      tiles = await Promise.all(Array.from({ length: TILES }, () => noiseTile(SIDE)));
    });

    /** Every tile of one SIDE×SIDE image at (0, 0): a small canvas, many large messages. */
    const tileAt = (tileIndex: number): TileRequest => ({
      imageId: 'noise',
      x: 0,
      y: 0,
      imageWidth: SIDE,
      imageHeight: SIDE,
      tileIndex,
      tileCount: TILES,
      image: tiles[tileIndex]!,
      options: undefined,
    });

    /** Writes every tile; stops quietly when the call fails, as its status is what the tests check. */
    const writeAll = async (call: { write(tile: TileRequest): Promise<void> }): Promise<void> => {
      try {
        for (let i = 0; i < TILES; i++) await call.write(tileAt(i));
      } catch {
        // The call's status tells.
      }
    };

    it('while the budget is full the stream waits unread; once memory is free every tile is answered, within the budget', async () => {
      const watch = watchPeak(budget);
      // Someone else (a Recognize) holds all but 2 MiB: the image's 4.1 MiB canvas must wait.
      const holder: Reservation = await budget.reserve(BUDGET - 2 * MiB);
      const call = t.client.recognizeTiles();
      const answers: TileResponse[] = [];
      const reading = (async () => {
        for await (const m of call) answers.push(m);
      })();
      const writing = writeAll(call);
      try {
        await waitFor(() => budget.waiting === 1, 10_000, 'the stream to wait for memory');
        expect(answers).to.have.length(0);
      } finally {
        holder.release();
      }
      await writing;
      call.end();
      await reading;
      const tileIndices = answers.flatMap((a) => (a.result?.$case === 'tile' ? [a.result.value.tileIndex] : []));
      expect(tileIndices.sort((a, b) => a - b)).to.deep.equal([...Array(TILES).keys()]);
      expect(answers.filter((a) => a.result?.$case === 'image')).to.have.length(1);
      expect(watch.peak).to.be.within(BUDGET - 2 * MiB, BUDGET);
    });

    it('a cancelled stream gives back its canvas and tiles', async () => {
      const call = t.client.recognizeTiles();
      const reading = readAll(call);
      const writing = writeAll(call);
      await waitFor(() => budget.usedBytes > SIDE * SIDE * 3, 10_000, 'the stream to hold its canvas and a tile');
      call.cancel();
      expectStatus((await reading).error, 'CANCELLED', /./);
      await writing;
      // afterEach waits for the budget to come back to 0.
    });
  });
});

describe('RecognizeTiles idle limit', function () {
  this.timeout(120_000);
  let t: TestServer;
  let small: Buffer;
  before(async () => {
    t = await startTestServer({ limits: { maxTileStreamIdleMs: 500 } });
    small = readFileSync(path.join(EVAL_DEV, 'docs', 'd013_waybill.jpg'));
  });
  after(async () => t?.stop());

  it('a stream with an unfinished image and no message for the limit ends with DEADLINE_EXCEEDED, giving back its canvas', async function () {
    this.timeout(15_000);
    const patch = await sharp(small).extract({ left: 0, top: 0, width: 865, height: 700 }).png().toBuffer();
    const call = t.client.recognizeTiles();
    const reading = readAll(call);
    const started = Date.now();
    await call.write(firstTile('page', 865, 1243, patch));
    const { answers, error } = await reading;
    expectStatus(error, 'DEADLINE_EXCEEDED', /no message on this RecognizeTiles stream for 0.5 s while images 'page' wait for more tiles/);
    // The one tile was read and answered before the idle clock started.
    expect(answers.map((a) => a.result?.$case)).to.deep.equal(['tile']);
    expect(Date.now() - started).to.be.at.least(500);
    expect(t.server.engine.budget.usedBytes).to.equal(0);
    // Counted, not timed: its time is the client's pause and the limit, not how fast the server answers.
    const counted = (await t.server.metrics.requests.get()).values.find(
      (v) => v.labels.method === 'RecognizeTiles' && v.labels.code === 'DEADLINE_EXCEEDED',
    )?.value;
    expect([counted, (await errorAnswerTimes(t.server.metrics, 'RecognizeTiles', 'DEADLINE_EXCEEDED')).count]).to.deep.equal([1, 0]);
  });

  it('a tile that waits the limit for memory others hold is refused for load: a retry hint, as its words say', async () => {
    const { budget } = t.server.engine;
    // Another caller holds all but 1 MiB; the 2000×2000 canvas (11.4 MiB) would fit once it is done.
    const holder = await budget.reserve(budget.limitBytes - 1024 * 1024);
    let result: { error: OcrCallError | null };
    try {
      const call = t.client.recognizeTiles();
      const reading = readAll(call);
      const tile = await solidImage(500, 500);
      await call.write(firstTile('page', 2000, 2000, tile));
      result = await reading;
    } finally {
      holder.release();
    }
    // It said "retry later" with grpc-retry-pushback-ms -1, which tells the SDK and grpc-js never to.
    expectStatus(
      result.error,
      'RESOURCE_EXHAUSTED',
      /image 'page' \(2000x2000 canvas\) waited 0\.5 s for 11 MiB .*retry in \d+ ms or on another instance/,
    );
    expect(Number(result.error!.metadata.get('grpc-retry-pushback-ms')[0])).to.be.at.least(0);
  });

  it('the idle clock does not run while the server reads the tiles', async () => {
    // Six tiles take the server longer than 0.5 s, while the client only waits for the answer.
    const r = await recognizeLargeImage(t.client, small, { tileSize: 500 });
    expect(r.tiles).to.be.at.least(6);
    expect(r.lines.length).to.be.greaterThan(10);
  });
});

describe("RecognizeTiles limits beside a caller's quota", function () {
  this.timeout(120_000);
  let t: TestServer;
  before(async () => {
    // By address, a window of 3000 s: nothing of it comes back while the test runs.
    t = await startTestServer({ limits: { maxImagesPerStream: 2 }, access: { quota: { rps: 0.001, burst: 3 } } });
  });
  after(async () => t?.stop());

  it("refuses an image past the stream's open images without counting it against the quota", async () => {
    const call = t.client.recognizeTiles();
    const reading = readAll(call);
    const patch = await solidImage(64, 64);
    // The stream's admission counts one call and image 'b' another; 'c' is refused for the images open.
    for (const id of ['a', 'b', 'c']) await call.write(firstTile(id, 128, 64, patch));
    call.end();
    expectStatus((await reading).error, 'RESOURCE_EXHAUSTED', /image 'c' would be image 3 open on this stream/);
    // The third place of the burst is still there.
    expect((await t.client.getServerInfo()).instanceId).to.equal(t.server.instanceId);
  });
});
