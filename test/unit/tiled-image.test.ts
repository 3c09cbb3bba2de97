import { expect } from 'chai';
import sharp, { type Sharp } from 'sharp';
import { OcrCallError, TiledImage } from '../../src/client/index.js';
import { bmpFile } from '../../src/dev/bmp-file.js';
import { decodeImage, DEFAULT_DECODE_LIMITS, probeImage } from '../../src/engine/decode/decode.js';
import type { OcrError } from '../../src/shared/errors.js';
import { bmpRows, jpegFrameAs, samplesTiff, solidImage } from '../support/images.js';
import {
  commentFloodPng,
  manyFrameGif,
  manyFrameWebp,
  manyPageTiff,
  repeatedScanJpeg,
  repeatedScanJpegTiff,
  strayStripTiff,
} from '../support/hostile-images.js';
import { decodingPeakMb } from '../support/decoding-peak.js';

/** The RGB pixels of an encoded tile. */
async function pixels(png: Buffer): Promise<Buffer> {
  return sharp(png).raw().toBuffer();
}

/** What `decode` rejects with. */
async function decodeFailure(image: Uint8Array, decode: (image: Uint8Array) => Promise<unknown>): Promise<Error> {
  try {
    await decode(image);
  } catch (err) {
    return err as Error;
  }
  expect.fail('expected the image to be refused');
}

/** The words of TiledImage.decode's refusal, an OcrCallError as the server's refusal of the file sent whole is. */
function refusalWords(err: Error): string {
  expect(err).to.be.instanceOf(OcrCallError);
  return (err as OcrCallError).details;
}

describe('TiledImage.decode', () => {
  it('cuts a BMP (which libvips cannot read) into tiles of the pixels the engine would read', async () => {
    const [width, height] = [20, 9];
    // 0xRRGGBB, a colour of its own for every pixel: a tile cut from the wrong place, or flipped, differs.
    const colour = (x: number, y: number): number => x * 12 * 65536 + y * 28 * 256 + 200;
    const tiled = await TiledImage.decode(bmpFile({ width, height, bits: 24, data: bmpRows(width, height, 24, colour) }));
    expect([tiled.width, tiled.height]).to.deep.equal([width, height]);
    const tile = await pixels(await tiled.encodeTile({ x: 5, y: 2, width: 4, height: 3 }));
    const expected = Buffer.alloc(4 * 3 * 3);
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 4; x++) {
        const c = colour(5 + x, 2 + y);
        expected.set([c >> 16, (c >> 8) & 255, c & 255], (y * 4 + x) * 3);
      }
    }
    expect(tile.equals(expected)).to.equal(true);
  });

  it('refuses a file that is not an image in the words the server has for it sent whole, each kind with what to send instead', async () => {
    // An SVG and an AVIF, which sharp alone would render and decode: the server refuses them.
    const avif = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#c84' } })
      .avif()
      .toBuffer();
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><text x="10" y="50">Invoice</text></svg>';
    for (const bytes of ['hello world\n', '%PDF-1.7\n', svg, avif]) {
      const image = Buffer.from(bytes);
      const tiled = await decodeFailure(image, (i) => TiledImage.decode(i));
      expect(tiled).to.have.property('code', 'INVALID_ARGUMENT');
      expect(refusalWords(tiled)).to.equal((await decodeFailure(image, (i) => decodeImage(i))).message);
    }
  });

  it('names a truncated image corrupt by its own format, whatever other images fail beside it', async () => {
    const noise = (): Sharp =>
      sharp({ create: { width: 256, height: 256, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
    const [jpeg, png] = await Promise.all([noise().jpeg().toBuffer(), noise().png().toBuffer()]);
    const cut = [jpeg.subarray(0, jpeg.length / 2), png.subarray(0, png.length / 2)];
    // At once: libvips keeps one error buffer for the process, which held the other image's words.
    const failures = await Promise.all(
      Array.from({ length: 8 }, (_, i) => decodeFailure(cut[i % 2]!, (image) => TiledImage.decode(image))),
    );
    failures.forEach((err, i) => {
      expect(err).to.have.property('code', 'INVALID_ARGUMENT');
      expect(refusalWords(err)).to.match(i % 2 === 0 ? /^JPEG image is corrupt or truncated: / : /^PNG image is corrupt or truncated: /);
    });
  });

  it('refuses a TIFF whose strip lies past its end, as the server does, rather than cut black tiles from it', async () => {
    const err = await decodeFailure(strayStripTiff(), (image) => TiledImage.decode(image));
    expect(err).to.have.property('code', 'INVALID_ARGUMENT');
    expect(refusalWords(err)).to.match(/^TIFF image is corrupt or truncated: /);
  });

  it("decodes a PNG of forty 7 MB comments without inflating them, as the server does (1.1 GB of the caller's memory before)", async () => {
    const decoder = { module: new URL('../../src/client/index.js', import.meta.url), decode: 'TiledImage.decode' };
    expect(await decodingPeakMb(decoder, await commentFloodPng(40))).to.be.below(400);
  });

  it("refuses, from its headers, a file whose decoder work the server bounds, in the server's words rather than decoding it", async () => {
    const jpeg = await sharp(await solidImage(16, 16))
      .jpeg()
      .toBuffer();
    // Each over one of the server's bounds; before, sharp decoded the first three and called the rest corrupt.
    const files: [string, Buffer][] = [
      ['GIF of 100,000 frames', manyFrameGif(100_000)],
      ['TIFF of 50,000 pages', manyPageTiff(50_000)],
      ['WebP of 2000 frames', await manyFrameWebp(2000)],
      ['TIFF of 24,000 tags', manyPageTiff(3, 8000)],
      ['JPEG of 2000 scans', await repeatedScanJpeg(2000)],
      ['TIFF of a JPEG of 2000 scans', await repeatedScanJpegTiff(2000)],
      ['12-bit JPEG', jpegFrameAs(jpeg, { precision: 12 })],
      ['hierarchical JPEG', jpegFrameAs(jpeg, { marker: 0xc5 })],
    ];
    for (const [file, image] of files) {
      const server = await decodeFailure(image, (i) => decodeImage(i));
      const tiled = await decodeFailure(image, (i) => TiledImage.decode(i));
      expect(tiled, file).to.have.property('code', (server as OcrError).code);
      expect(refusalWords(tiled), file).to.equal(server.message);
    }
  });

  it('refuses channels and samples the server refuses, in its words, rather than cut tiles of what libvips makes of them', async () => {
    // RGB and two more channels; a float gray scan, whose 0 to 1 libvips decodes black.
    for (const tiff of [samplesTiff(5, 2), samplesTiff(1, 1, { bits: 32, format: 3 })]) {
      const tiled = await decodeFailure(tiff, (i) => TiledImage.decode(i));
      expect(tiled).to.have.property('code', 'INVALID_ARGUMENT');
      expect(refusalWords(tiled)).to.equal((await decodeFailure(tiff, (i) => probeImage(i, DEFAULT_DECODE_LIMITS))).message);
    }
  });
});
