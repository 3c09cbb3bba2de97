import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import { OcrCallError, recognizeLargeImage, TiledImage, TileStream, type TileRequest, type TileResponse } from '../../src/client/index.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { docsF1 } from '../../src/dev/eval-score.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** The 300-dpi A4 pages of the development set. */
const A4_PAGES = ['d006_form.jpg', 'd007_form.jpg', 'd009_notice.jpg', 'd010_notice.jpg', 'd014_en_invoice.jpg'];

async function expectStreamError(t: TestServer, tiles: TileRequest[], code: string, message: RegExp, end = true): Promise<void> {
  const call = t.client.recognizeTiles();
  const received: TileResponse[] = [];
  const reading = (async () => {
    for await (const m of call) received.push(m);
  })();
  try {
    for (const tile of tiles) await call.write(tile);
  } catch {
    // The server may end the call before all tiles are written; the status is what counts.
  }
  if (end) call.end();
  try {
    await reading;
  } catch (err) {
    expect(err).to.be.instanceOf(OcrCallError);
    expect((err as OcrCallError).code, (err as OcrCallError).details).to.equal(code);
    expect((err as OcrCallError).details).to.match(message);
    return;
  }
  expect.fail(`expected ${code}; the stream ended OK after ${received.length} messages`);
}

describe('RecognizeTiles', function () {
  this.timeout(300_000);
  let t: TestServer;
  let small: Buffer;
  before(async () => {
    t = await startTestServer();
    small = await sharp(readFileSync(path.join(EVAL_DEV, 'docs', 'd013_waybill.jpg')))
      .png()
      .toBuffer();
  });
  after(async () => t?.stop());

  const tile = async (image: Buffer, rect: { left: number; top: number; width: number; height: number }): Promise<Buffer> =>
    sharp(image).extract(rect).png().toBuffer();

  it('the 300-dpi A4 pages through 1024-px tiles read within 0.5 F1 points of Recognize', async () => {
    const whole: Record<string, string[]> = {};
    const tiled: Record<string, string[]> = {};
    for (const page of A4_PAGES) {
      const bytes = readFileSync(path.join(EVAL_DEV, 'docs', page));
      whole[page] = (await t.client.recognize(bytes)).lines.map((l) => l.text);
      const perTile: number[] = [];
      const r = await recognizeLargeImage(t.client, bytes, { tileSize: 1024, onTile: (tl) => perTile.push(tl.tileIndex) });
      expect(r.tiles).to.be.greaterThan(4);
      expect(perTile.sort((a, b) => a - b)).to.deep.equal([...Array(r.tiles).keys()]);
      for (const line of r.lines) {
        for (const p of line.box) {
          expect(p.x).to.be.within(0, r.width);
          expect(p.y).to.be.within(0, r.height);
        }
      }
      tiled[page] = r.lines.map((l) => l.text);
    }
    const a = docsF1({ docs: whole }, EVAL_DEV, A4_PAGES);
    const b = docsF1({ docs: tiled }, EVAL_DEV, A4_PAGES);
    expect(a).to.be.greaterThan(0.95);
    expect(Math.abs(a - b), `whole ${a}, tiled ${b}`).to.be.at.most(0.005);
  });

  it('reads a line longer than a tile once and whole', async () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="3000" height="700"><rect width="100%" height="100%" fill="white"/>
      <text x="150" y="380" font-family="DejaVu Sans, sans-serif" font-size="64" fill="black">Across the tile border this sentence must be read once and whole</text></svg>`;
    const image = await sharp(Buffer.from(svg)).png().toBuffer();
    const r = await recognizeLargeImage(t.client, image, { tileSize: 1024 });
    const texts = r.lines.map((l) => l.text.replace(/\s+/g, ''));
    expect(texts).to.have.length(1);
    expect(texts[0]).to.equal('Acrossthetileborderthissentencemustbereadonceandwhole');
  });

  it('several images asked for at once on one stream each get their own final message', async () => {
    const pages = ['d003_receipt.jpg', 'd012_waybill.jpg'].map((f) => readFileSync(path.join(EVAL_DEV, 'docs', f)));
    const expected = await Promise.all(
      pages.map(async (p) => (await recognizeLargeImage(t.client, p, { tileSize: 700 })).lines.map((l) => l.text)),
    );
    const stream = new TileStream(t.client.recognizeTiles());
    const decoded = await Promise.all(pages.map((p) => TiledImage.decode(p)));
    const results = await Promise.all(decoded.map((d, i) => stream.recognize(d, { tileSize: 700, imageId: `page-${i}` })));
    stream.end();
    results.forEach((r, i) => expect(r.lines.map((l) => l.text)).to.deep.equal(expected[i]));
  });

  describe('malformed streams end with INVALID_ARGUMENT and the server goes on', () => {
    const header = { imageId: 'a', imageWidth: 865, imageHeight: 1243, tileCount: 2, options: undefined };

    afterEach(async () => {
      const r = await t.client.recognize(small);
      expect(r.lines.length).to.be.greaterThan(10);
    });

    it('a tile outside the declared image', async () => {
      const img = await tile(small, { left: 0, top: 0, width: 600, height: 600 });
      await expectStreamError(t, [{ ...header, x: 500, y: 0, tileIndex: 0, image: img }], 'INVALID_ARGUMENT', /tile 0/);
    });

    it('a duplicate tile', async () => {
      const img = await tile(small, { left: 0, top: 0, width: 865, height: 700 });
      await expectStreamError(
        t,
        [
          { ...header, x: 0, y: 0, tileIndex: 0, image: img },
          { ...header, x: 0, y: 0, tileIndex: 0, image: img },
        ],
        'INVALID_ARGUMENT',
        /duplicate tile/,
      );
    });

    it('missing tiles: the declared tiles leave part of the image uncovered', async () => {
      const top = await tile(small, { left: 0, top: 0, width: 865, height: 500 });
      const bottom = await tile(small, { left: 0, top: 800, width: 865, height: 443 });
      await expectStreamError(
        t,
        [
          { ...header, x: 0, y: 0, tileIndex: 0, image: top },
          { ...header, x: 0, y: 800, tileIndex: 1, image: bottom },
        ],
        'INVALID_ARGUMENT',
        /uncovered/,
      );
    });

    it('a stream that ends mid-image', async () => {
      const top = await tile(small, { left: 0, top: 0, width: 865, height: 700 });
      await expectStreamError(
        t,
        [{ ...header, x: 0, y: 0, tileIndex: 0, image: top }],
        'INVALID_ARGUMENT',
        /ended mid-image.*1 of 2 tiles/,
      );
    });

    it('tiles that disagree on the image size', async () => {
      const img = await tile(small, { left: 0, top: 0, width: 865, height: 700 });
      await expectStreamError(
        t,
        [
          { ...header, x: 0, y: 0, tileIndex: 0, image: img },
          { ...header, imageWidth: 900, x: 0, y: 543, tileIndex: 1, image: img },
        ],
        'INVALID_ARGUMENT',
        /same image size/,
      );
    });

    it("a later tile whose options differ from the image's first tile's (they were ignored without a word)", async () => {
      const top = await tile(small, { left: 0, top: 0, width: 865, height: 700 });
      const bottom = await tile(small, { left: 0, top: 543, width: 865, height: 700 });
      await expectStreamError(
        t,
        [
          { ...header, x: 0, y: 0, tileIndex: 0, image: top, options: { minConfidence: 0.5 } },
          { ...header, x: 0, y: 543, tileIndex: 1, image: bottom, options: { minConfidence: 0.99 } },
        ],
        'INVALID_ARGUMENT',
        /image 'a' tile 1 sets options \{min_confidence: 0\.99\}, but the image's first tile \(tile 0\) set \{min_confidence: 0\.5\}.*send them on the first tile of the image to arrive/,
      );
    });

    it('options on tile 0 when another tile of the image came first without any (they were ignored without a word)', async () => {
      const top = await tile(small, { left: 0, top: 0, width: 865, height: 700 });
      const bottom = await tile(small, { left: 0, top: 543, width: 865, height: 700 });
      await expectStreamError(
        t,
        [
          { ...header, x: 0, y: 543, tileIndex: 1, image: bottom },
          { ...header, x: 0, y: 0, tileIndex: 0, image: top, options: { maxSideLen: 1280 } },
        ],
        'INVALID_ARGUMENT',
        /image 'a' tile 0 sets options \{max_side_len: 1280\}, but the image's first tile \(tile 1\) set none/,
      );
    });

    it('options out of range on the first tile: named by image and tile', async () => {
      const top = await tile(small, { left: 0, top: 0, width: 865, height: 700 });
      await expectStreamError(
        t,
        [{ ...header, x: 0, y: 0, tileIndex: 0, image: top, options: { minConfidence: 3 } }],
        'INVALID_ARGUMENT',
        /^image 'a' tile 0: options\.min_confidence is 3; it must lie in \[0, 1\]/,
      );
    });

    it('a tile sent again while its image is still being read: says the image is complete', async () => {
      const whole = await tile(small, { left: 0, top: 0, width: 865, height: 1243 });
      await expectStreamError(
        t,
        [
          { ...header, x: 0, y: 0, tileIndex: 0, tileCount: 1, image: whole },
          { ...header, x: 0, y: 0, tileIndex: 0, tileCount: 1, image: whole },
        ],
        'INVALID_ARGUMENT',
        /image 'a' tile 0 is a duplicate tile: index 0 was already received, and the image's 1 tiles are all in; an image id names one image until its final message/,
      );
    });

    it('an image_id past 256 bytes, naming the limit (one of 100 KB made trailers the client refused: "connection lost")', async () => {
      const img = await tile(small, { left: 0, top: 0, width: 865, height: 700 });
      await expectStreamError(
        t,
        [{ ...header, imageId: 'x'.repeat(100_000), x: 0, y: 0, tileIndex: 0, image: img }],
        'INVALID_ARGUMENT',
        /^tile 0 has an image_id of 100000 bytes \('x{32}…'\), past the server's limit of 256; name each image with a short id/,
      );
    });

    it('a tile that is no image', async () => {
      await expectStreamError(
        t,
        [{ ...header, x: 0, y: 0, tileIndex: 0, image: Buffer.from('garbage') }],
        'INVALID_ARGUMENT',
        /tile 0: image is not a/,
      );
    });
  });
});
