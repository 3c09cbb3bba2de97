import { expect } from 'chai';
import sharp from 'sharp';
import { decodeImage } from '../../src/engine/decode/decode.js';
import { sniffFormat } from '../../src/shared/image-format.js';
import { OcrError } from '../../src/shared/errors.js';
import { countGifFrames } from '../../src/shared/gif-header.js';
import { countWebpChunks } from '../../src/shared/webp-header.js';
import { checkTiffJpegScans, countTiffDirectories, readTiffLayout } from '../../src/shared/tiff-header.js';
import { manyPageTiff, repeatedScanJpegTiff, strayStripTiff } from '../support/hostile-images.js';
import { textImage } from '../support/images.js';

describe('image decoding', () => {
  it('recognises each supported container by its magic bytes', () => {
    const bytes = (...b: number[]): Uint8Array => Uint8Array.from([...b, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(sniffFormat(bytes(0xff, 0xd8, 0xff))).to.equal('jpeg');
    expect(sniffFormat(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a))).to.equal('png');
    expect(sniffFormat(bytes(0x47, 0x49, 0x46, 0x38))).to.equal('gif');
    expect(sniffFormat(Uint8Array.from(Buffer.from('RIFF\0\0\0\0WEBPVP8 ')))).to.equal('webp');
    expect(sniffFormat(bytes(0x49, 0x49, 0x2a, 0x00))).to.equal('tiff');
    expect(sniffFormat(bytes(0x4d, 0x4d, 0x00, 0x2a))).to.equal('tiff');
    expect(sniffFormat(bytes(0x42, 0x4d))).to.equal('bmp');
    expect(sniffFormat(Uint8Array.from(Buffer.from('{"image": "..."}')))).to.equal(null);
  });

  it('applies EXIF orientation and flattens alpha on white', async () => {
    // 40×20 transparent image stored with orientation 6 (turn 90° clockwise to view).
    const png = await sharp({ create: { width: 40, height: 20, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const { image } = await decodeImage(png);
    expect([image.width, image.height]).to.deep.equal([20, 40]);
    const alpha = await sharp({ create: { width: 10, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .png()
      .toBuffer();
    const flat = await decodeImage(alpha);
    expect(flat.image.channels).to.equal(3);
    expect(flat.image.data[0]).to.equal(255);
  });

  it("says sharp's reason for a corrupt header, without libvips' lines, which other images' failures may be among", async () => {
    const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#fff' } })
      .jpeg()
      .toBuffer();
    // A Huffman table whose code counts add up to more codes than there are.
    const table = jpeg.indexOf(Buffer.from([0xff, 0xc4]));
    jpeg.fill(0xff, table + 5, table + 21);
    const err = await decodeImage(jpeg).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OcrError);
    expect((err as OcrError).message).to.match(/^JPEG image is corrupt: Input buffer has corrupt header; send the whole file/);
  });

  it('refuses a TIFF whose strip lies past its end or is cut short, and a PNG whose pixel data fails its CRC, rather than read them', async () => {
    const page = await sharp(await textImage('Invoice 2024'))
      .tiff()
      .toBuffer();
    const png = await textImage('Invoice 2024');
    const badCrc = Buffer.from(png);
    const iend = badCrc.indexOf('IEND') - 4;
    badCrc[iend - 1] = badCrc[iend - 1]! ^ 1; // the last IDAT's CRC
    const damaged: Record<string, [Buffer, RegExp]> = {
      strayStrip: [strayStripTiff(), /^TIFF image is corrupt or truncated: /],
      cutShort: [page.subarray(0, page.length - 100), /^TIFF image is corrupt or truncated: /],
      badCrc: [badCrc, /^PNG image is corrupt or truncated: /],
    };
    for (const [name, [bytes, message]] of Object.entries(damaged)) {
      const err = await decodeImage(bytes).catch((e: unknown) => e);
      expect(err, name).to.be.instanceOf(OcrError).with.property('code', 'INVALID_ARGUMENT');
      expect((err as Error).message, name).to.match(message);
    }
  });

  it('says its decoder gave no reason where libvips gave none, rather than "Unknown error"', async () => {
    const png = Buffer.from(await textImage('Invoice 2024'));
    png[29] = png[29]! ^ 0xff; // IHDR's CRC: libvips fails with its error buffer empty
    const err = await decodeImage(png).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OcrError).with.property('code', 'INVALID_ARGUMENT');
    expect((err as Error).message).to.match(
      /^PNG image is corrupt or truncated: its decoder stopped without saying why; send the whole file/,
    );
  });

  it('refuses too many pixels by the header alone, with RESOURCE_EXHAUSTED', async () => {
    const png = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const err = await decodeImage(png, { maxPixels: 10_000, minSide: 8 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OcrError);
    expect((err as OcrError).code).to.equal('RESOURCE_EXHAUSTED');
    expect((err as OcrError).message).to.contain('200×200 = 40000 pixels');
  });

  it("counts an animation's frames and a TIFF's pages as their decoders do, and decodes the first of many", async () => {
    // Three frames that differ: an encoder merges identical ones.
    const colours = ['#fff', '#888', '#000'];
    const pngs = await Promise.all(
      colours.map((background) =>
        sharp({ create: { width: 16, height: 16, channels: 3, background } })
          .png()
          .toBuffer(),
      ),
    );
    const frames = sharp(pngs, { join: { animated: true } });
    const gif = await frames.clone().gif().toBuffer();
    const webp = await frames.clone().webp({ lossless: true }).toBuffer();
    expect(countGifFrames(gif)).to.equal(3);
    // VP8X, ANIM and a chunk a frame.
    expect(countWebpChunks(webp)).to.equal(5);
    expect(countTiffDirectories(manyPageTiff(3))).to.deep.equal({ pages: 3, entries: 27 });
    for (const file of [gif, webp]) expect((await decodeImage(file)).image).to.include({ width: 16, height: 16 });
    expect((await decodeImage(manyPageTiff(1000))).image).to.include({ width: 8, height: 8 });
  });

  it("reads a JPEG-compressed TIFF's strips and tiles, and decodes it within the scan bound", async () => {
    const page = sharp({ create: { width: 300, height: 200, channels: 3, background: '#8a6' } });
    const stripped = await page.clone().tiff({ compression: 'jpeg' }).toBuffer();
    const tiled = await page.clone().tiff({ compression: 'jpeg', tile: true, tileWidth: 64, tileHeight: 64 }).toBuffer();
    expect(readTiffLayout(tiled)).to.deep.include({ compression: 7, pieces: 5 * 4 });
    expect(readTiffLayout(stripped)?.compression).to.equal(7);
    for (const file of [stripped, tiled]) {
      const { data } = readTiffLayout(file)!;
      expect(data!.start).to.be.greaterThanOrEqual(8);
      expect(data!.end).to.be.at.most(file.length);
      expect((await decodeImage(file)).image).to.include({ width: 300, height: 200 });
    }
  });

  it("counts the scans of the first page's strips only: the other pages of a many-page scan are not its bomb", async () => {
    const page = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#8a6' } })
      .tiff({ compression: 'jpeg' })
      .toBuffer();
    // What the pages after the first hold beyond its strips (here bytes no directory names): 150 pages
    // of baseline JPEG strips, a scan each, counted with the first page's they were refused.
    const laterPages = Buffer.concat(Array.from({ length: 150 }, () => Buffer.from([0xff, 0xda, 0x00, 0x0c])));
    const scan = Buffer.concat([page, laterPages]);
    expect(() => checkTiffJpegScans(scan)).not.to.throw();
    expect((await decodeImage(scan)).image).to.include({ width: 300, height: 200 });
    // A first page whose own strip repeats its scans is refused as before.
    const bomb = await repeatedScanJpegTiff(500);
    expect(() => checkTiffJpegScans(bomb)).to.throw(/TIFF image's JPEG data has more than 100 scans/);
  });
});
