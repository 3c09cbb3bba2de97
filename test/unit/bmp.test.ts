import { expect } from 'chai';
import { decodeBmp, flatten, readBmpHeader } from '../../src/shared/bmp-decoder.js';
import { decodeImage, DEFAULT_DECODE_LIMITS, probeImage } from '../../src/engine/decode/decode.js';
import type { RawImage } from '../../src/engine/types.js';
import { OcrError } from '../../src/shared/errors.js';
import { os2BmpWithTrailer, os2HeaderBmp } from '../support/hostile-images.js';
import { bmpFile, stripedOneBitBmp, type BmpSpec } from '../../src/dev/bmp-file.js';
import { bmpRows } from '../support/images.js';

const W = 13;
const H = 7;

/** 16 distinct colours, as RGB triples. */
const PALETTE = Uint8Array.from({ length: 48 }, (_, i) => (i * 37 + 11) & 255);
const colourIndex =
  (colours: number) =>
  (x: number, y: number): number =>
    (x * 7 + y * 3) % colours;

/** The image that value(x, y) → [r, g, b] describes, as decodeBmp should give it. */
function expected(width: number, height: number, rgb: (x: number, y: number) => number[]): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out.set(rgb(x, y), (y * width + x) * 3);
  return out;
}

function expectPixels(image: RawImage, width: number, height: number, rgb: (x: number, y: number) => number[]): void {
  expect([image.width, image.height, image.channels]).to.deep.equal([width, height, 3]);
  expect(Buffer.from(image.data).equals(expected(width, height, rgb))).to.equal(true);
}

const fromPalette =
  (index: (x: number, y: number) => number) =>
  (x: number, y: number): number[] => [...PALETTE.subarray(index(x, y) * 3, index(x, y) * 3 + 3)];
const scaled = (v: number, bits: number): number => Math.round((v * 255) / (2 ** bits - 1));

function expectRefused(bmp: Uint8Array, message: RegExp): void {
  expect(() => decodeBmp(bmp))
    .to.throw(OcrError, message)
    .with.property('code', 'INVALID_ARGUMENT');
}

describe('BMP decoding (bmp.ts)', () => {
  it('reads 1-, 4- and 8-bit palette images, bottom-up and top-down', () => {
    for (const bits of [1, 4, 8]) {
      const colours = Math.min(16, 2 ** bits);
      const index = colourIndex(colours);
      for (const topDown of [false, true]) {
        const spec: BmpSpec = {
          width: W,
          height: H,
          bits,
          topDown,
          palette: PALETTE.subarray(0, colours * 3),
          data: bmpRows(W, H, bits, index, topDown),
        };
        expectPixels(decodeBmp(bmpFile(spec)), W, H, fromPalette(index));
        expect(readBmpHeader(bmpFile(spec))).to.include({ width: W, height: H, topDown, bitsPerPixel: bits });
      }
    }
  });

  it('reads 24-bit images, bottom-up and top-down', () => {
    const rgb = (x: number, y: number): number[] => [x * 19, y * 31, (x * y) & 255];
    const value = (x: number, y: number): number => {
      const [r, g, b] = rgb(x, y);
      return (r! << 16) | (g! << 8) | b!;
    };
    for (const topDown of [false, true]) {
      expectPixels(decodeBmp(bmpFile({ width: W, height: H, bits: 24, topDown, data: bmpRows(W, H, 24, value, topDown) })), W, H, rgb);
    }
  });

  it('reads OS/2 core headers (16-bit sizes, 3-byte palette entries) and OS/2 2.x headers', () => {
    const index = colourIndex(16);
    const core = bmpFile({ width: W, height: H, bits: 8, headerSize: 12, palette: PALETTE, data: bmpRows(W, H, 8, index) });
    expectPixels(decodeBmp(core), W, H, fromPalette(index));
    const os2v2 = bmpFile({ width: W, height: H, bits: 4, headerSize: 64, palette: PALETTE, data: bmpRows(W, H, 4, index) });
    expectPixels(decodeBmp(os2v2), W, H, fromPalette(index));
  });

  it('reads 16-bit 555 (BI_RGB) and 565 (BI_BITFIELDS, masks after or inside the header)', () => {
    const r = (x: number): number => x % 32,
      g = (y: number): number => (y * 9) % 64,
      b = (x: number, y: number): number => (x + y) % 32;
    const p555 = (x: number, y: number): number => (r(x) << 10) | ((g(y) & 31) << 5) | b(x, y);
    expectPixels(decodeBmp(bmpFile({ width: W, height: H, bits: 16, data: bmpRows(W, H, 16, p555) })), W, H, (x, y) => [
      scaled(r(x), 5),
      scaled(g(y) & 31, 5),
      scaled(b(x, y), 5),
    ]);
    const p565 = (x: number, y: number): number => (r(x) << 11) | (g(y) << 5) | b(x, y);
    for (const headerSize of [40, 52, 56, 108, 124]) {
      const masks = headerSize >= 56 ? [0xf800, 0x07e0, 0x001f, 0] : [0xf800, 0x07e0, 0x001f];
      const bmp = bmpFile({ width: W, height: H, bits: 16, headerSize, compression: 3, masks, data: bmpRows(W, H, 16, p565) });
      expectPixels(decodeBmp(bmp), W, H, (x, y) => [scaled(r(x), 5), scaled(g(y), 6), scaled(b(x, y), 5)]);
    }
  });

  it('reads 32-bit pixels: a fourth byte that is zero everywhere is no alpha; alpha is flattened on white', () => {
    const rgb = (x: number, y: number): number[] => [x * 19, y * 31, 200];
    const rgbValue = (x: number, y: number): number => {
      const [r, g, b] = rgb(x, y);
      return (r! << 16) | (g! << 8) | b!;
    };
    expectPixels(decodeBmp(bmpFile({ width: W, height: H, bits: 32, data: bmpRows(W, H, 32, rgbValue) })), W, H, rgb);
    const alpha = (x: number, y: number): number => (x * 20 + y) & 255;
    const withAlpha = (x: number, y: number): number => (alpha(x, y) << 24) | rgbValue(x, y);
    const flat = (x: number, y: number): number[] => rgb(x, y).map((v) => flatten(v, alpha(x, y)));
    expectPixels(decodeBmp(bmpFile({ width: W, height: H, bits: 32, data: bmpRows(W, H, 32, withAlpha) })), W, H, flat);
    for (const headerSize of [56, 108, 124]) {
      const bmp = bmpFile({
        width: W,
        height: H,
        bits: 32,
        headerSize,
        compression: 3,
        masks: [0xff0000, 0xff00, 0xff, 0xff000000],
        data: bmpRows(W, H, 32, withAlpha),
      });
      expectPixels(decodeBmp(bmp), W, H, flat);
    }
    // BI_ALPHABITFIELDS after a 40-byte header: 4 bits a channel.
    const p4444 = (x: number, y: number): number => ((x & 15) << 12) | ((y & 15) << 8) | (((x + y) & 15) << 4) | 15;
    const bmp = bmpFile({
      width: W,
      height: H,
      bits: 16,
      compression: 6,
      masks: [0xf00, 0xf0, 0xf, 0xf000],
      data: bmpRows(W, H, 16, p4444),
    });
    expectPixels(decodeBmp(bmp), W, H, (x, y) => [y & 15, (x + y) & 15, 15].map((v) => flatten(v * 17, (x & 15) * 17)));
    // libvips' flatten, as sharp applies it to other formats: (v·a + 255·(255 − a)) / 255, truncated.
    expect([flatten(0, 0), flatten(0, 255), flatten(100, 128), flatten(10, 1)]).to.deep.equal([255, 0, 177, 254]);
  });

  it('reads RLE8: runs, literal runs (padded), end of line, delta and end of bitmap; skipped pixels are white', () => {
    const palette = Uint8Array.from([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]);
    const rle = Uint8Array.from([3, 1, 0, 3, 2, 3, 0, 0, 0, 0, 0, 2, 2, 1, 4, 3, 0, 0, 6, 2, 0, 1]);
    const c = (i: number): number[] => [...palette.subarray(i * 3, i * 3 + 3)];
    const rows = [
      [2, 2, 2, 2, 2, 2],
      [-1, -1, 3, 3, 3, 3],
      [-1, -1, -1, -1, -1, -1],
      [1, 1, 1, 2, 3, 0],
    ];
    const image = decodeBmp(bmpFile({ width: 6, height: 4, bits: 8, compression: 1, palette, data: rle }));
    expectPixels(image, 6, 4, (x, y) => (rows[y]![x]! < 0 ? [255, 255, 255] : c(rows[y]![x]!)));
  });

  it('reads RLE4: runs of alternating nibbles and literal runs with an odd byte count', () => {
    const rle = Uint8Array.from([5, 0x12, 0, 0, 0, 5, 0x34, 0x56, 0x70, 0, 0, 1]);
    const rows = [
      [3, 4, 5, 6, 7],
      [1, 2, 1, 2, 1],
    ];
    const image = decodeBmp(bmpFile({ width: 5, height: 2, bits: 4, compression: 2, palette: PALETTE, data: rle }));
    expectPixels(
      image,
      5,
      2,
      fromPalette((x, y) => rows[y]![x]!),
    );
  });

  // Its CPU time is bench:profile's to measure (docs/BENCHMARKS.md, "Where the time goes").
  it('decodes a 1-bit 6320×6320 BMP (39.9 Mpx), bottom row first', () => {
    const size = 6320;
    const image = decodeBmp(stripedOneBitBmp(size));
    const at = (x: number, y: number): number[] => [...image.data.subarray((y * size + x) * 3, (y * size + x) * 3 + 3)];
    // Bottom-up: the last stored row (y = size − 1, odd: 0xf0) is the top one.
    expect([at(0, 0), at(4, 0), at(0, 1), at(size - 1, size - 1)]).to.deep.equal([
      [240, 250, 255],
      [10, 20, 30],
      [10, 20, 30],
      [240, 250, 255],
    ]);
  });

  it('reads the 12-byte OS/2 header that once decoded as 524296×480 as what it says, or refuses it', async () => {
    const started = performance.now();
    const err = await decodeImage(os2HeaderBmp()).catch((e: unknown) => e);
    expect(err)
      .to.be.instanceOf(OcrError)
      .with.property('message')
      .that.matches(/BMP images with 0-bit pixels are not supported/);
    const sound = await decodeImage(os2BmpWithTrailer());
    expect([sound.image.width, sound.image.height]).to.deep.equal([8, 8]);
    expect([...sound.image.data.subarray(0, 6)]).to.deep.equal([255, 255, 255, 0, 0, 0]);
    expect(await probeImage(os2BmpWithTrailer(), DEFAULT_DECODE_LIMITS)).to.deep.equal({ format: 'bmp', width: 8, height: 8 });
    expect(performance.now() - started).to.be.below(1000);
  });

  it('checks the size limits on the header before allocating any pixel', async () => {
    const bomb = bmpFile({ width: 100_000, height: 100_000, bits: 8, compression: 1, palette: PALETTE, data: Uint8Array.from([0, 1]) });
    const err = await decodeImage(bomb, DEFAULT_DECODE_LIMITS).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OcrError).with.property('code', 'RESOURCE_EXHAUSTED');
    // The CLI reads sizes with no limit (--lines-only): the header alone, never the pixels.
    expect(await probeImage(bomb, { maxPixels: Infinity, minSide: 0 })).to.deep.include({ width: 100_000, height: 100_000 });
  });

  it('answers INVALID_ARGUMENT for truncated or inconsistent files', () => {
    const index = colourIndex(16);
    const good = bmpFile({ width: W, height: H, bits: 8, palette: PALETTE, data: bmpRows(W, H, 8, index) });
    expectRefused(
      good.subarray(0, good.length - 1),
      /corrupt or truncated: its pixel rows end at byte \d+, past the end of the \d+-byte file/,
    );
    expectRefused(good.subarray(0, 30), /corrupt or truncated: its 40-byte info header ends past the end/);
    expectRefused(
      bmpFile({ width: W, height: H, bits: 8, palette: PALETTE.subarray(0, 6), data: bmpRows(W, H, 8, index) }),
      /pixel \(\d+, \d+\) uses colour \d+ of a 2-colour table/,
    );
    const rle = (data: number[]): Buffer =>
      bmpFile({ width: 4, height: 2, bits: 8, compression: 1, palette: PALETTE, data: Uint8Array.from(data) });
    expectRefused(rle([5, 1, 0, 1]), /RLE data writes 5 pixels from \(0, 1\), outside the image/);
    expectRefused(rle([2, 1]), /RLE data ends before its end-of-bitmap marker/);
    expectRefused(rle([0, 2, 9, 0, 0, 1]), /RLE delta moves outside the image/);
    expectRefused(rle([0, 4, 1, 2]), /RLE data ends inside a literal run/);
    expectRefused(rle([1, 200, 0, 1]), /pixel \(0, 1\) uses colour 200 of a 16-colour table/);
    expectRefused(
      bmpFile({ width: 4, height: 2, bits: 8, compression: 1, topDown: true, palette: PALETTE, data: Uint8Array.from([0, 1]) }),
      /top-down/,
    );
    expectRefused(
      bmpFile({ width: W, height: H, bits: 16, compression: 3, masks: [0xf0f0, 0x0f00, 0x000f], data: bmpRows(W, H, 16, index) }),
      /colour mask 0xf0f0 is not one run of bits/,
    );
    expectRefused(bmpFile({ width: -5, height: H, bits: 24, data: new Uint8Array(0) }), /its width is negative/);
  });

  it('answers INVALID_ARGUMENT naming what is not supported', () => {
    const spec = { width: W, height: H, data: new Uint8Array(64) };
    expectRefused(bmpFile({ ...spec, bits: 0, compression: 4 }), /BMP images with JPEG-compressed pixels are not supported/);
    expectRefused(bmpFile({ ...spec, bits: 0, compression: 5 }), /PNG-compressed pixels are not supported/);
    expectRefused(bmpFile({ ...spec, bits: 2, palette: PALETTE.subarray(0, 12) }), /2-bit pixels are not supported/);
    expectRefused(bmpFile({ ...spec, bits: 24, headerSize: 64, compression: 4 }), /OS\/2 RLE24 compression/);
    expectRefused(bmpFile({ ...spec, bits: 1, headerSize: 64, compression: 3 }), /OS\/2 Huffman 1D compression/);
    expectRefused(bmpFile({ ...spec, bits: 24, headerSize: 16 }), /a 16-byte info header are not supported/);
    expectRefused(bmpFile({ ...spec, bits: 24, compression: 3, masks: [0xff0000, 0xff00, 0xff] }), /colour masks on 24-bit pixels/);
  });
});
