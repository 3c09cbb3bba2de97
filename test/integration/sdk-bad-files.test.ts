import path from 'node:path';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  OcrCallError,
  recognizeLargeImage,
  recognizeLargeImageSpread,
  TiledImage,
  TileStream,
  type StatusName,
} from '../../src/client/index.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { EMPTY_IMAGE } from '../../src/shared/not-an-image.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { manyFrameGif, manyPageTiff, repeatedScanJpeg } from '../support/hostile-images.js';

/** What a refusal of an image that does not decode tells the caller to do (corrupt-image.ts). */
const SEND_IT_WHOLE = 'send the whole file as it was saved, or, if it does not open in an image viewer either, export or scan it again';

/**
 * A bad file is refused alike by every entry point of the SDK: one `catch` written for `recognize`
 * (OcrCallError, by its code) must take the large-image helpers' refusal of the same file, which
 * they make before any call. Before, those came as OcrError, which such a catch let through.
 */
describe('SDK: the same bad file, the same error from every entry point', function () {
  this.timeout(120_000);
  let t: TestServer;
  let good: Buffer;
  let scansJpeg: Buffer;
  before(async () => {
    t = await startTestServer();
    good = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));
    scansJpeg = await repeatedScanJpeg(2000);
  });
  after(async () => t?.stop());

  /** How each entry point takes one image. */
  const entryPoints = (): [string, (image: Buffer) => Promise<unknown>][] => [
    ['recognize', (image) => t.client.recognize(image)],
    ['recognizeLargeImage', (image) => recognizeLargeImage(t.client, image, { tileSize: 256 })],
    ['recognizeLargeImageSpread', (image) => recognizeLargeImageSpread(t.client, image, { tileSize: 256 })],
    [
      'TileStream.recognize',
      async (image) => {
        const stream = new TileStream(t.client.recognizeTiles());
        try {
          return await stream.recognize(image, { tileSize: 256 });
        } finally {
          stream.end();
        }
      },
    ],
    ['TiledImage.decode', (image) => TiledImage.decode(image)],
  ];

  const cases = (): [string, Buffer, StatusName, RegExp][] => [
    ['no image', Buffer.from('hello, this is not an image'), 'INVALID_ARGUMENT', /not a JPEG, PNG, WebP, TIFF, GIF or BMP/],
    ['empty', Buffer.alloc(0), 'INVALID_ARGUMENT', new RegExp(`^${EMPTY_IMAGE}$`)],
    [
      'a truncated PNG',
      good.subarray(0, Math.floor(good.length / 2)),
      'INVALID_ARGUMENT',
      new RegExp(`^PNG image is corrupt or truncated: .+; ${SEND_IT_WHOLE}$`),
    ],
    // Files whose decoder work the server bounds: the SDK decoded the first two, and called the third corrupt.
    ['a GIF of 100,000 frames', manyFrameGif(100_000), 'INVALID_ARGUMENT', /^GIF image has more than 1000 frames, this server's limit/],
    ['a TIFF of 50,000 pages', manyPageTiff(50_000), 'INVALID_ARGUMENT', /^TIFF image has more than 1000 pages, this server's limit/],
    ['a JPEG of 2000 scans', scansJpeg, 'INVALID_ARGUMENT', /^JPEG image has more than 100 scans, this server's limit/],
  ];

  it('rejects a file that is no image, an empty one, a truncated one and one of unbounded decoder work with OcrCallError and the code Recognize gives', async () => {
    for (const [file, image, code, details] of cases()) {
      for (const [entry, call] of entryPoints()) {
        const err = await call(image).then(
          () => expect.fail(`${entry} took ${file}`),
          (e: unknown) => e,
        );
        expect(err, `${entry}, ${file}: ${String(err)}`).to.be.instanceOf(OcrCallError);
        expect(err, `${entry}, ${file}`).to.include({ code });
        expect((err as OcrCallError).details, `${entry}, ${file}`).to.match(details);
      }
    }
  });

  it('refuses a bad tile plan with an INVALID_ARGUMENT OcrCallError too', async () => {
    const refusals: [string, () => Promise<unknown>, RegExp][] = [
      ['recognizeLargeImage', () => recognizeLargeImage(t.client, good, { tileSize: 0 }), /^tileSize must be a whole number of pixels > 0/],
      [
        'recognizeLargeImageSpread',
        () => recognizeLargeImageSpread(t.client, good, { tileSize: 64, overlap: 64 }),
        /^overlap \(64\) must be smaller than tileSize \(64\)/,
      ],
      ['TiledImage.tiles', async () => (await TiledImage.decode(good)).tiles(64, -1), /^overlap must be a whole number/],
      // Before the image is decoded: this one is no image, and its tile size is named, not that.
      [
        'recognizeLargeImage, no image',
        () => recognizeLargeImage(t.client, Buffer.from('no image'), { tileSize: 1.5 }),
        /^tileSize must be a whole number of pixels > 0, got 1\.5/,
      ],
      [
        'recognizeLargeImageSpread, no image',
        () => recognizeLargeImageSpread(t.client, Buffer.from('no image'), { tileSize: 256, overlap: -1 }),
        /^overlap must be a whole number of pixels ≥ 0, got -1/,
      ],
    ];
    for (const [entry, refusal, details] of refusals) {
      const err = await refusal().then(
        () => expect.fail(`${entry} went ahead`),
        (e: unknown) => e,
      );
      expect(err, `${entry}: ${String(err)}`).to.be.instanceOf(OcrCallError);
      expect(err, entry).to.include({ code: 'INVALID_ARGUMENT' });
      expect((err as OcrCallError).details, entry).to.match(details);
    }
  });

  it('refuses a tile stream written after its end as its call does: FAILED_PRECONDITION, from TileStream and TileCall alike', async () => {
    const stream = new TileStream(t.client.recognizeTiles());
    stream.end();
    const call = t.client.recognizeTiles();
    call.end();
    const tile = { imageId: 'a', x: 0, y: 0, imageWidth: 8, imageHeight: 8, tileIndex: 0, tileCount: 1, image: good };
    const refusals: [string, () => Promise<unknown>][] = [
      ['TileStream.recognize', () => stream.recognize(good, { tileSize: 256 })],
      ['TileCall.write', () => call.write(tile)],
    ];
    for (const [entry, refusal] of refusals) {
      const err = await refusal().then(
        () => expect.fail(`${entry} went ahead`),
        (e: unknown) => e,
      );
      expect(err, `${entry}: ${String(err)}`).to.be.instanceOf(OcrCallError);
      expect(err, entry).to.include({ code: 'FAILED_PRECONDITION' });
    }
  });
});
