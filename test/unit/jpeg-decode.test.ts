import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import sharp, { type Sharp } from 'sharp';
import { decodeImage, DEFAULT_DECODE_LIMITS, MOZJPEG_MAX_PIXELS, plainImageSize } from '../../src/engine/decode/decode.js';
import {
  checkJpegScans,
  countJpegScans,
  isPlainJpeg,
  MAX_JPEG_HEADER_SEGMENTS,
  MAX_JPEG_SCANS,
  readJpegHeader,
} from '../../src/shared/jpeg-header.js';
import { decodePlainJpeg } from '../../src/engine/decode/jpeg-decoder.js';
import { OcrError } from '../../src/shared/errors.js';
import { EVAL_DEV, EVAL_REAL } from '../../src/dev/repo-paths.js';
import { manySegmentJpeg, repeatedScanJpeg } from '../support/hostile-images.js';
import { jpegClaiming, jpegWithoutQuantTables } from '../support/images.js';

/** A 61×23 RGB image with every pixel different, as sharp input. */
function pattern(): Sharp {
  const data = Buffer.alloc(61 * 23 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 5)) & 255;
  return sharp(data, { raw: { width: 61, height: 23, channels: 3 } });
}

const variants = async (): Promise<Record<string, Buffer>> => ({
  baseline420: await pattern().jpeg({ quality: 80 }).toBuffer(),
  baseline444: await pattern().jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer(),
  progressive: await pattern().jpeg({ progressive: true }).toBuffer(),
  gray: await pattern().toColourspace('b-w').jpeg().toBuffer(),
  optimisedScans: await pattern().jpeg({ optimiseScans: true }).toBuffer(),
  exifOrientation: await pattern().jpeg().withMetadata({ orientation: 6 }).toBuffer(),
  icc: await pattern().withIccProfile('p3').jpeg().toBuffer(),
  cmyk: await pattern().toColourspace('cmyk').jpeg().toBuffer(),
});

describe('plain JPEGs decoded without sharp (jpeg-header, decodePlainJpeg)', () => {
  it('takes 8-bit gray and YCbCr JPEGs, and leaves EXIF orientation, ICC profiles and CMYK to sharp', async () => {
    const v = await variants();
    const plain = Object.fromEntries(Object.entries(v).map(([name, jpeg]) => [name, isPlainJpeg(readJpegHeader(jpeg)!)]));
    expect(plain).to.deep.equal({
      baseline420: true,
      baseline444: true,
      progressive: true,
      gray: true,
      optimisedScans: true,
      exifOrientation: false,
      icc: false,
      cmyk: false,
    });
    expect(readJpegHeader(v.baseline420)).to.include({ width: 61, height: 23, components: 3, precision: 8, frameMarker: 0xc0 });
    expect(readJpegHeader(v.progressive)).to.include({ frameMarker: 0xc2 });
    expect(readJpegHeader(v.gray)).to.include({ components: 1 });
  });

  it('gives the pixels decodeImage gives', async () => {
    for (const [name, jpeg] of Object.entries(await variants())) {
      if (!isPlainJpeg(readJpegHeader(jpeg)!)) continue;
      const ours = await decodePlainJpeg(jpeg);
      const { image } = await decodeImage(jpeg);
      expect([ours.width, ours.height, ours.channels], name).to.deep.equal([image.width, image.height, image.channels]);
      expect(Buffer.from(ours.data).equals(Buffer.from(image.data)), name).to.equal(true);
    }
  });

  it('gives the pixels decodeImage gives for every JPEG line image of both evaluation sets', async () => {
    let compared = 0;
    for (const dir of [path.join(EVAL_DEV, 'lines'), path.join(EVAL_REAL, 'lines')]) {
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.jpg'))) {
        const jpeg = readFileSync(path.join(dir, file));
        expect(plainImageSize(jpeg, DEFAULT_DECODE_LIMITS), file).to.include({ format: 'jpeg' });
        const ours = await decodePlainJpeg(jpeg);
        const { image } = await decodeImage(jpeg);
        expect(Buffer.from(ours.data).equals(Buffer.from(image.data)), file).to.equal(true);
        compared++;
      }
    }
    expect(compared).to.be.greaterThan(20);
  });

  it('reads no header from a cut-off JPEG or another format, so they go to sharp', async () => {
    const jpeg = await pattern().jpeg().toBuffer();
    const cut = jpeg.subarray(0, jpeg.length - 20);
    expect(readJpegHeader(cut)).to.include({ complete: false });
    expect(plainImageSize(cut, DEFAULT_DECODE_LIMITS)).to.equal(null);
    expect(readJpegHeader(jpeg.subarray(0, 100))).to.equal(null);
    expect(readJpegHeader(await pattern().png().toBuffer())).to.equal(null);
  });

  it('leaves JPEGs past MOZJPEG_MAX_PIXELS to sharp, which decodes them for less', async () => {
    const wide = await sharp({ create: { width: 1300, height: 100, channels: 3, background: '#ffffff' } })
      .jpeg()
      .toBuffer();
    expect(isPlainJpeg(readJpegHeader(wide)!)).to.equal(true);
    expect(1300 * 100).to.be.greaterThan(MOZJPEG_MAX_PIXELS);
    expect(plainImageSize(wide, DEFAULT_DECODE_LIMITS)).to.equal(null);
  });

  it('checks the size limits as decodeImage does, before decoding anything', async () => {
    const tiny = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#ffffff' } })
      .jpeg()
      .toBuffer();
    expect(() => plainImageSize(tiny, DEFAULT_DECODE_LIMITS)).to.throw(OcrError, /1×1 pixels; text needs at least 8/);
    const bomb = await jpegClaiming(60_000, 60_000);
    expect(() => plainImageSize(bomb, DEFAULT_DECODE_LIMITS))
      .to.throw(OcrError, /3600000000 pixels, over this server's limit/)
      .with.property('code', 'RESOURCE_EXHAUSTED');
  });

  it('answers INVALID_ARGUMENT for a scan it cannot decode behind a sound header, and decodes the next', async () => {
    const jpeg = await pattern().jpeg().toBuffer();
    const broken = jpegWithoutQuantTables(jpeg);
    expect(plainImageSize(broken, DEFAULT_DECODE_LIMITS)).to.deep.equal({ format: 'jpeg', width: 61, height: 23 });
    let failure: unknown;
    await decodePlainJpeg(broken).catch((err: unknown) => (failure = err));
    expect(failure).to.be.instanceOf(OcrError).with.property('code', 'INVALID_ARGUMENT');
    expect((failure as Error).message).to.match(/JPEG image is corrupt or truncated: .*[Qq]uantization table/);
    expect((await decodePlainJpeg(jpeg)).width).to.equal(61);
  });

  it('counts the scans of sequential and progressive JPEGs, and passes them all', async () => {
    const v = await variants();
    expect(countJpegScans(v.baseline420)).to.equal(1);
    expect(countJpegScans(v.gray)).to.equal(1);
    expect(countJpegScans(v.progressive)).to.equal(10);
    expect(countJpegScans(v.optimisedScans)).to.be.within(2, 30);
    for (const jpeg of Object.values(v)) expect(() => checkJpegScans(jpeg)).to.not.throw();
  });

  it('refuses, in milliseconds, a JPEG that repeats one AC scan 900,000 times (30 s of MozJPEG), before any decoder', async () => {
    const bomb = await repeatedScanJpeg(900_000);
    expect(bomb.length).to.be.above(10_000_000);
    const limit = new RegExp(`JPEG image has more than ${MAX_JPEG_SCANS} scans, this server's limit`);
    const started = performance.now();
    expect(() => checkJpegScans(bomb))
      .to.throw(OcrError, limit)
      .with.property('code', 'INVALID_ARGUMENT');
    expect(() => plainImageSize(bomb, DEFAULT_DECODE_LIMITS)).to.throw(OcrError, limit);
    for (const decoding of [decodeImage(bomb), decodePlainJpeg(bomb)]) {
      expect(await decoding.catch((err: unknown) => err))
        .to.be.instanceOf(OcrError)
        .with.property('message')
        .that.matches(limit);
    }
    expect(performance.now() - started).to.be.below(200);
    // Its 10 scans and 90 repeats are within the limit; one more repeat is not.
    expect(countJpegScans(await repeatedScanJpeg(MAX_JPEG_SCANS - 10))).to.equal(MAX_JPEG_SCANS);
    const oneTooMany = await repeatedScanJpeg(MAX_JPEG_SCANS - 9);
    expect(() => checkJpegScans(oneTooMany)).to.throw(OcrError, limit);
  });

  it('stops walking the segments before the frame past MAX_JPEG_HEADER_SEGMENTS, and leaves such a file to sharp', async () => {
    expect(readJpegHeader(await manySegmentJpeg(MAX_JPEG_HEADER_SEGMENTS - 10))).to.include({ width: 16, height: 16 });
    const flood = await manySegmentJpeg(3_000_000);
    const started = performance.now();
    expect(readJpegHeader(flood)).to.equal(null);
    expect(plainImageSize(flood, DEFAULT_DECODE_LIMITS)).to.equal(null);
    expect(countJpegScans(flood)).to.equal(1);
    expect(performance.now() - started).to.be.below(200);
  });
});
