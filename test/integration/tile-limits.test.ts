import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import { OcrCallError, recognizeLargeImage, type TileRequest, type TileResponse } from '../../src/client/index.js';
import type { MemoryBudget, Reservation } from '../../src/engine/admission/memory-budget.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { errorAnswerTimes } from '../support/error-latency.js';
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
    patch = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#ffffff' } })
      .png()
      .toBuffer();
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
    expectStatus(error, 'RESOURCE_EXHAUSTED', /image 'huge' \(6000x6000 canvas\) needs about 103 MiB.*budget of 32 MiB/);
    expect(watch.peak).to.equal(0);
    const r = await t.client.recognize(small);
    expect(r.lines.length).to.be.greaterThan(10);
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

  it('the idle clock does not run while the server reads the tiles', async () => {
    // Six tiles take the server longer than 0.5 s, while the client only waits for the answer.
    const r = await recognizeLargeImage(t.client, small, { tileSize: 500 });
    expect(r.tiles).to.be.at.least(6);
    expect(r.lines.length).to.be.greaterThan(10);
  });
});
