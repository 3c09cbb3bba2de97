import { expect } from 'chai';
import sharp from 'sharp';
import { decodeImage, DEFAULT_DECODE_LIMITS, probeImage, type DecodeLimits } from '../../src/engine/decode/decode.js';
import { OcrError } from '../../src/shared/errors.js';
import { manyChunkPng, manySegmentJpeg, os2HeaderBmp, repeatedScanJpeg, webpBomb } from '../support/hostile-images.js';
import { bmpFile } from '../../src/dev/bmp-file.js';
import { bmpRows, jpegFrameAs, samplesTiff } from '../support/images.js';

const colour = (width: number, height: number, background: string): Promise<Buffer> =>
  sharp({ create: { width, height, channels: 3, background } })
    .png()
    .toBuffer();

/** The error a promise rejects with (undefined when it resolves). */
const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('admission probe (probeImage)', () => {
  it('gives the format and the size decodeImage decodes to, for every format', async () => {
    const base = sharp(await colour(30, 20, '#c84'));
    const frames = [await colour(30, 20, '#f00'), await colour(30, 20, '#00f')];
    const images: Record<string, Buffer> = {
      jpeg: await base.clone().jpeg().toBuffer(),
      progressiveJpeg: await base.clone().jpeg({ progressive: true }).toBuffer(),
      png: await base.clone().png().toBuffer(),
      webp: await base.clone().webp().toBuffer(),
      tiff: await base.clone().tiff().toBuffer(),
      gif: await base.clone().gif().toBuffer(),
      animatedGif: await sharp(frames, { join: { animated: true } })
        .gif()
        .toBuffer(),
      animatedWebp: await sharp(frames, { join: { animated: true } })
        .webp()
        .toBuffer(),
      twoPageTiff: await sharp(frames, { join: { animated: true } })
        .tiff()
        .toBuffer(),
      bmp: bmpFile({ width: 30, height: 20, bits: 24, topDown: true, data: bmpRows(30, 20, 24, () => 0xc08040, true) }),
      // Quarter turns: decodeImage swaps the sides.
      jpegOrientation6: await base.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer(),
      pngOrientation8: await base.clone().png().withMetadata({ orientation: 8 }).toBuffer(),
      webpOrientation5: await base.clone().webp().withMetadata({ orientation: 5 }).toBuffer(),
      tiffOrientation7: await base.clone().tiff().withMetadata({ orientation: 7 }).toBuffer(),
      jpegOrientation3: await base.clone().jpeg().withMetadata({ orientation: 3 }).toBuffer(),
      grayAlphaTiff: samplesTiff(2, 1),
      cmykAlphaTiff: samplesTiff(5, 5),
      // Headers that the readers here leave to sharp.
      jpegManySegments: await manySegmentJpeg(5000),
      pngManyChunks: await manyChunkPng(5000),
    };
    for (const [name, bytes] of Object.entries(images)) {
      const { image, format } = await decodeImage(bytes);
      expect(await probeImage(bytes, DEFAULT_DECODE_LIMITS), name).to.deep.equal({ format, width: image.width, height: image.height });
    }
    expect(await probeImage(images.jpegOrientation6!, DEFAULT_DECODE_LIMITS)).to.include({ width: 20, height: 30 });
  });

  it('says 6000×6000 for a 1.4 KB lossless WebP, and refuses it where that is over the limit', async () => {
    const bomb = await webpBomb();
    expect(bomb.length).to.be.below(2000);
    expect(await probeImage(bomb, DEFAULT_DECODE_LIMITS)).to.deep.equal({ format: 'webp', width: 6000, height: 6000 });
    const err = await failure(probeImage(bomb, { maxPixels: 10_000_000, minSide: 8 }));
    expect(err).to.be.instanceOf(OcrError).with.property('code', 'RESOURCE_EXHAUSTED');
    expect((err as Error).message).to.contain('6000×6000 = 36000000 pixels');
  });

  it('throws the errors decodeImage throws, without decoding', async () => {
    const small: DecodeLimits = { maxPixels: 1000, minSide: 8 };
    const jpeg = await sharp(await colour(30, 20, '#c84'))
      .jpeg()
      .toBuffer();
    const bad: Record<string, [Uint8Array, RegExp]> = {
      empty: [new Uint8Array(0), /image is empty/],
      notAnImage: [Buffer.from('{"image": "iVBORw0KGgo..."}'), /image is not a JPEG, PNG, WebP, TIFF, GIF or BMP file/],
      tooSmall: [await colour(4, 30, '#fff'), /image is 4×30 pixels; text needs at least 8/],
      tooLarge: [await colour(40, 40, '#fff'), /image is 40×40 = 1600 pixels, over this server's limit of 1000/],
      tooLargeWebp: [
        await sharp(await colour(40, 40, '#fff'))
          .webp()
          .toBuffer(),
        /40×40 = 1600 pixels, over/,
      ],
      tooManyScans: [await repeatedScanJpeg(500), /JPEG image has more than 100 scans/],
      bmpOs2Attack: [os2HeaderBmp(), /BMP images with 0-bit pixels are not supported/],
      bmpTooLarge: [
        bmpFile({ width: 50, height: 50, bits: 8, compression: 1, palette: new Uint8Array(6), data: Uint8Array.from([0, 1]) }),
        /50×50 = 2500 pixels/,
      ],
      corruptGif: [Buffer.from('GIF89a\x01'), /GIF image is corrupt/],
      // Sound files that libjpeg does not decode: named as such, not as corrupt.
      twelveBitJpeg: [
        jpegFrameAs(jpeg, { marker: 0xc1, precision: 12 }),
        /^JPEG image has 12-bit samples; this server decodes JPEGs of 8 bits a sample: save it as an 8-bit JPEG, or as PNG/,
      ],
      hierarchicalJpeg: [jpegFrameAs(jpeg, { marker: 0xc5 }), /^JPEG image is hierarchical \(frame marker 0xc5\), a process this server/],
      // Channels past the colours and one alpha, which the decode does not read: named, not called corrupt.
      rgbAndTwoMoreTiff: [
        samplesTiff(5, 2),
        /^TIFF image has 5 channels \(srgb with alpha\), more than its 3 colour channels and one alpha: .*; save it as gray, RGB or CMYK/,
      ],
      grayAndThreeMoreTiff: [samplesTiff(4, 1), /^TIFF image has 4 channels \(b-w with alpha\), more than its 1 colour channel and one/],
      sixChannelTiff: [samplesTiff(6, 2), /^TIFF image has 6 channels /],
    };
    for (const [name, [bytes, message]] of Object.entries(bad)) {
      const probed = await failure(probeImage(bytes, small));
      const decoded = await failure(decodeImage(bytes, small));
      expect(probed, name).to.be.instanceOf(OcrError);
      expect((probed as Error).message, name).to.match(message);
      expect([(probed as OcrError).code, (probed as Error).message], name).to.deep.equal([
        (decoded as OcrError).code,
        (decoded as Error).message,
      ]);
    }
  });

  it('refuses samples the decode would not read as their colours (a float gray scan of 0 to 1 decoded black), and takes 16-bit, float RGB and 16-bit Lab', async () => {
    const read = {
      u16Gray: samplesTiff(1, 1, { bits: 16, format: 1 }),
      floatRgb: samplesTiff(3, 2, { bits: 32, format: 3 }),
      // 16-bit CIELab (photometric 8), which libvips reads as signed LabS and converts.
      lab16: samplesTiff(3, 8, { bits: 16, format: 1 }),
    };
    for (const [name, bytes] of Object.entries(read)) {
      expect(await probeImage(bytes, DEFAULT_DECODE_LIMITS), name).to.deep.equal({ format: 'tiff', width: 16, height: 16 });
    }
    const refused: Record<string, [Buffer, RegExp]> = {
      floatGray: [
        samplesTiff(1, 1, { bits: 32, format: 3 }),
        /^TIFF image has 32-bit floating-point samples \(b-w\), which this server does not read/,
      ],
      signedRgb: [samplesTiff(3, 2, { bits: 16, format: 2 }), /^TIFF image has signed 16-bit integer samples \(srgb\)/],
      u32Gray: [samplesTiff(1, 1, { bits: 32, format: 1 }), /^TIFF image has unsigned 32-bit integer samples/],
    };
    for (const [name, [bytes, message]] of Object.entries(refused)) {
      const err = await failure(probeImage(bytes, DEFAULT_DECODE_LIMITS));
      expect(err, name).to.be.instanceOf(OcrError).with.property('code', 'INVALID_ARGUMENT');
      expect((err as Error).message, name)
        .to.match(message)
        .and.match(/save it with 8- or 16-bit unsigned samples/);
    }
  });
});
