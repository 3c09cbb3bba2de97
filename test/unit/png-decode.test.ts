import { expect } from 'chai';
import sharp, { type Sharp } from 'sharp';
import { decodeImage, DEFAULT_DECODE_LIMITS, plainImageSize } from '../../src/engine/decode/decode.js';
import { decodePlainPng } from '../../src/engine/decode/png-decoder.js';
import { isPlainPng, MAX_PNG_CHUNKS, readPngHeader, readPngSize } from '../../src/engine/decode/png-header.js';
import { OcrError } from '../../src/shared/errors.js';
import { manyChunkPng } from '../support/hostile-images.js';
import { pngClaiming, pngFromRows, solidImage, type PngRows } from '../support/images.js';

/** A 37×23 RGB image with every pixel different, as sharp input. */
function pattern(): Sharp {
  const data = Buffer.alloc(37 * 23 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 5)) & 255;
  return sharp(data, { raw: { width: 37, height: 23, channels: 3 } });
}

describe('plain PNGs decoded without sharp (png-header, decodePlainPng)', () => {
  const variants = async (): Promise<Record<string, Buffer>> => ({
    rgb: await pattern().png().toBuffer(),
    gray: await pattern().toColourspace('b-w').png().toBuffer(),
    palette: await pattern().png({ palette: true, colours: 256 }).toBuffer(),
    palette4Bit: await pattern().png({ palette: true, colours: 16 }).toBuffer(),
    interlaced: await pattern().png({ progressive: true }).toBuffer(),
    rgba: await pattern().ensureAlpha(0.5).png().toBuffer(),
    sixteenBit: await pattern().toColourspace('rgb16').png().toBuffer(),
    icc: await pattern().withIccProfile('p3').png().toBuffer(),
  });

  it('takes 8-bit gray, RGB and palette PNGs, and leaves alpha, other depths, interlacing and ICC profiles to sharp', async () => {
    const v = await variants();
    const plain = Object.fromEntries(Object.entries(v).map(([name, png]) => [name, isPlainPng(readPngHeader(png)!)]));
    expect(plain).to.deep.equal({
      rgb: true,
      gray: true,
      palette: true,
      palette4Bit: false,
      interlaced: false,
      rgba: false,
      sixteenBit: false,
      icc: false,
    });
  });

  it('gives the pixels decodeImage gives', async () => {
    for (const [name, png] of Object.entries(await variants())) {
      if (!isPlainPng(readPngHeader(png)!)) continue;
      const ours = decodePlainPng(png);
      const { image } = await decodeImage(png);
      expect([ours.width, ours.height, ours.channels], name).to.deep.equal([image.width, image.height, image.channels]);
      expect(Buffer.from(ours.data).equals(Buffer.from(image.data)), name).to.equal(true);
    }
  });

  it('reads no header from a cut-off PNG or another format, so they go to sharp', async () => {
    const png = await pattern().png().toBuffer();
    expect(readPngHeader(png.subarray(0, png.length - 20))).to.equal(null);
    expect(plainImageSize(await pattern().webp().toBuffer(), DEFAULT_DECODE_LIMITS)).to.equal(null);
  });

  it('checks the size limits as decodeImage does, before inflating anything', async () => {
    expect(() => plainImageSize(Buffer.from([]), DEFAULT_DECODE_LIMITS)).to.not.throw();
    const tiny = await solidImage(1, 1);
    expect(() => plainImageSize(tiny, DEFAULT_DECODE_LIMITS)).to.throw(OcrError, /1×1 pixels; text needs at least 8/);
    const bomb = await pngClaiming(60_000, 60_000);
    expect(() => plainImageSize(bomb, DEFAULT_DECODE_LIMITS))
      .to.throw(OcrError, /3600000000 pixels, over this server's limit/)
      .with.property('code', 'RESOURCE_EXHAUSTED');
  });

  it('answers INVALID_ARGUMENT for corrupt pixel data behind a sound header', async () => {
    const png = Buffer.from(await pattern().png().toBuffer());
    const idat = png.indexOf('IDAT');
    for (let i = idat + 8; i < idat + 40; i++) png[i] = png[i]! ^ 0x5a;
    expect(plainImageSize(png, DEFAULT_DECODE_LIMITS)).to.deep.equal({ format: 'png', width: 37, height: 23 });
    expect(() => decodePlainPng(png))
      .to.throw(OcrError, /PNG image is corrupt or truncated/)
      .with.property('code', 'INVALID_ARGUMENT');
  });

  /** 29×11 pixels, every row with the next of the five filters, in each colour type. */
  const handWritten = (colorType: 0 | 2 | 3, overrides: Partial<PngRows> = {}): Buffer => {
    const width = 29,
      height = 11,
      bpp = colorType === 2 ? 3 : 1;
    const pixels = new Uint8Array(width * height * bpp);
    // Few distinct values, so that Paeth's predictors often tie and its tie-breaking shows.
    let seed = 11;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) >> 8) % n;
    for (let i = 0; i < pixels.length; i++) pixels[i] = colorType === 3 ? random(40) : [0, 10, 20, 40, 255][random(5)]!;
    const palette = new Uint8Array(40 * 3);
    for (let i = 0; i < palette.length; i++) palette[i] = (i * 53) & 255;
    return pngFromRows({
      width,
      height,
      colorType,
      pixels,
      filters: [0, 1, 2, 3, 4],
      ...(colorType === 3 ? { palette } : {}),
      ...overrides,
    });
  };

  it('undoes all five row filters as sharp does, in gray, RGB and palette images', async () => {
    for (const colorType of [0, 2, 3] as const) {
      const png = handWritten(colorType);
      const ours = decodePlainPng(png);
      const { image } = await decodeImage(png);
      expect(Buffer.from(ours.data).equals(Buffer.from(image.data)), `colour type ${colorType}`).to.equal(true);
    }
  });

  it('answers INVALID_ARGUMENT for an undefined filter, pixel data of the wrong length, a bad CRC or a colour past the palette', () => {
    const cases: Record<string, Buffer> = {
      'filter type 5': handWritten(2, { filters: [0, 5] }),
      'short data': handWritten(2, { mangle: (f) => f.subarray(0, f.length - 10) }),
      'long data': handWritten(2, { mangle: (f) => Buffer.concat([f, Buffer.alloc(10)]) }),
      'small palette': handWritten(3, { palette: new Uint8Array(30 * 3) }),
      'bad CRC': (() => {
        const png = handWritten(0);
        const end = png.indexOf('IEND') - 4;
        png[end - 1] = png[end - 1]! ^ 1;
        return png;
      })(),
    };
    const messages: Record<string, string> = {};
    for (const [name, png] of Object.entries(cases)) {
      try {
        decodePlainPng(png);
        messages[name] = 'decoded';
      } catch (err) {
        expect(err, name).to.be.instanceOf(OcrError).with.property('code', 'INVALID_ARGUMENT');
        messages[name] = (err as Error).message.replace(/^PNG image is corrupt or truncated: (.*); send the whole file .*$/, '$1');
      }
    }
    expect(messages['filter type 5']).to.equal('row 1 has filter type 5, which PNG does not define');
    expect(messages['short data']).to.equal('958 bytes of pixel data where its size needs 968');
    expect(messages['long data']).to.equal('its pixel data inflates past the 968 bytes its size needs');
    expect(messages['small palette']).to.match(/^pixel \(\d+, \d+\) uses colour 3\d of a 30-colour palette$/);
    expect(messages['bad CRC']).to.equal('CRC mismatch in its IDAT chunk');
  });

  it('walks at most MAX_PNG_CHUNKS chunks: 2.7 million empty ones are not plain, and cost no time', async () => {
    const few = await manyChunkPng(MAX_PNG_CHUNKS - 10);
    expect(isPlainPng(readPngHeader(few)!)).to.equal(true);
    const flood = await manyChunkPng(2_700_000);
    const started = performance.now();
    expect(readPngHeader(flood)).to.equal(null);
    expect(plainImageSize(flood, DEFAULT_DECODE_LIMITS)).to.equal(null);
    expect(readPngSize(flood)).to.deep.equal({ width: 16, height: 16 });
    expect(performance.now() - started).to.be.below(200); // under 1 ms unloaded; 1.3 s before the bound
    // Past the bound a PNG goes to sharp, which gives the same pixels.
    const many = await manyChunkPng(MAX_PNG_CHUNKS);
    expect(plainImageSize(many, DEFAULT_DECODE_LIMITS)).to.equal(null);
    expect(Buffer.from((await decodeImage(many)).image.data).equals(Buffer.from(decodePlainPng(await solidImage(16, 16)).data))).to.equal(
      true,
    );
  });

  it('reads the size from the IHDR alone (readPngSize), or none where IHDR is not first', async () => {
    const png = await pattern().png().toBuffer();
    expect(readPngSize(png)).to.deep.equal({ width: 37, height: 23 });
    expect(readPngSize(png.subarray(0, 32))).to.equal(null);
    const renamed = Buffer.from(png);
    renamed.write('IHDX', 12, 'latin1');
    expect(readPngSize(renamed)).to.equal(null);
  });
});
