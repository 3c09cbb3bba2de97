import { expect } from 'chai';
import sharp, { type Sharp } from 'sharp';
import { decodeImage, decodePlainPng, DEFAULT_DECODE_LIMITS, plainPngSize } from '../../src/engine/decode.js';
import { isPlainPng, readPngHeader } from '../../src/engine/png-header.js';
import { OcrError } from '../../src/shared/errors.js';
import { pngClaiming, solidImage } from '../support/images.js';

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

  it('takes 8-bit gray, RGB and palette PNGs, and leaves alpha, other depths and ICC profiles to sharp', async () => {
    const v = await variants();
    const plain = Object.fromEntries(Object.entries(v).map(([name, png]) => [name, isPlainPng(readPngHeader(png)!)]));
    expect(plain).to.deep.equal({
      rgb: true,
      gray: true,
      palette: true,
      palette4Bit: false,
      interlaced: true,
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
    expect(plainPngSize(await pattern().jpeg().toBuffer(), DEFAULT_DECODE_LIMITS)).to.equal(null);
  });

  it('checks the size limits as decodeImage does, before inflating anything', async () => {
    expect(() => plainPngSize(Buffer.from([]), DEFAULT_DECODE_LIMITS)).to.not.throw();
    const tiny = await solidImage(1, 1);
    expect(() => plainPngSize(tiny, DEFAULT_DECODE_LIMITS)).to.throw(OcrError, /1×1 pixels; text needs at least 8/);
    const bomb = await pngClaiming(60_000, 60_000);
    expect(() => plainPngSize(bomb, DEFAULT_DECODE_LIMITS))
      .to.throw(OcrError, /3600000000 pixels, over this server's limit/)
      .with.property('code', 'RESOURCE_EXHAUSTED');
  });

  it('answers INVALID_ARGUMENT for corrupt pixel data behind a sound header', async () => {
    const png = Buffer.from(await pattern().png().toBuffer());
    const idat = png.indexOf('IDAT');
    for (let i = idat + 8; i < idat + 40; i++) png[i] = png[i]! ^ 0x5a;
    expect(plainPngSize(png, DEFAULT_DECODE_LIMITS)).to.deep.equal({ width: 37, height: 23 });
    expect(() => decodePlainPng(png)).to.throw(OcrError, /PNG image is corrupt or truncated/).with.property('code', 'INVALID_ARGUMENT');
  });
});
