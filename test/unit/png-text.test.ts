import { expect } from 'chai';
import sharp from 'sharp';
import { decodeImage } from '../../src/engine/decode/decode.js';
import { withoutPngText } from '../../src/shared/png-text.js';
import { commentFloodPng } from '../support/hostile-images.js';
import { solidImage } from '../support/images.js';
import { decodingPeakMb } from '../support/decoding-peak.js';

/** The chunk types of a PNG, in order. */
function chunkTypes(png: Uint8Array): string[] {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const types: string[] = [];
  for (let at = 8; at + 12 <= buf.length; at += 12 + buf.readUInt32BE(at)) types.push(buf.toString('latin1', at + 4, at + 8));
  return types;
}

describe('PNG text chunks, dropped before sharp decodes (withoutPngText)', () => {
  it('drops tEXt, zTXt and iTXt chunks and keeps every other, or gives the same bytes where there are none', async () => {
    const plain = await solidImage(16, 16);
    expect(withoutPngText(plain)).to.equal(plain);
    const oriented = await sharp(plain)
      .png()
      .withMetadata({ orientation: 6 })
      .withExif({ IFD0: { ImageDescription: 'x' } })
      .toBuffer();
    const flood = await commentFloodPng(2);
    expect(chunkTypes(flood)).to.include('zTXt');
    expect(chunkTypes(withoutPngText(flood))).to.deep.equal(chunkTypes(plain));
    // An eXIf chunk (the orientation) is kept.
    expect(chunkTypes(withoutPngText(oriented))).to.include('eXIf');
    const jpeg = await sharp(plain).jpeg().toBuffer();
    expect(withoutPngText(jpeg)).to.equal(jpeg);
  });

  it('decodes a 280 KB PNG of forty 7 MB comments without inflating them (1.1 GB of memory before, 80 MB now)', async () => {
    const flood = await commentFloodPng(40);
    expect(
      Buffer.from((await decodeImage(flood)).image.data).equals(Buffer.from((await decodeImage(await solidImage(16, 16))).image.data)),
    ).to.equal(true);
    const decoder = { module: new URL('../../src/engine/decode/decode.js', import.meta.url), decode: 'decodeImage' };
    expect(await decodingPeakMb(decoder, flood)).to.be.below(400);
  });
});
