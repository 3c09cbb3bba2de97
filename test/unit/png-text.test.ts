import { expect } from 'chai';
import sharp from 'sharp';
import { decodeImage, DEFAULT_DECODE_LIMITS, probeImage } from '../../src/engine/decode/decode.js';
import { SharpInput } from '../../src/engine/decode/sharp-input.js';
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

describe('PNG text chunks, dropped once an image (SharpInput)', () => {
  /** A withoutPngText that counts its runs. */
  function counted(): { drop: (buf: Uint8Array) => Uint8Array; runs: () => number } {
    let runs = 0;
    return {
      drop: (buf) => {
        runs++;
        return withoutPngText(buf);
      },
      runs: () => runs,
    };
  }

  it('decodeImage drops the text of a PNG it cannot decode once, not again to explain why', async () => {
    const commented = await commentFloodPng(1, await solidImage(32, 32));
    // Its pixel data cut short: sharp fails, and the failure is explained from the header.
    const truncated = commented.subarray(0, commented.length - 20);
    const text = counted();
    const err = await decodeImage(new SharpInput(truncated, text.drop)).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'INVALID_ARGUMENT');
    expect((err as Error).message).to.match(/^PNG image is corrupt or truncated: /);
    expect(text.runs()).to.equal(1);
  });

  it("the text a probe dropped to read a PNG's EXIF orientation is not dropped again to decode it, here or in a worker", async () => {
    const oriented = await sharp({ create: { width: 40, height: 24, channels: 3, background: '#fff' } })
      .png()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const png = await commentFloodPng(1, oriented);
    const text = counted();
    const input = new SharpInput(png, text.drop);
    const probe = await probeImage(input, DEFAULT_DECODE_LIMITS);
    expect([probe.width, probe.height]).to.deep.equal([24, 40]);
    expect(input.dropped).to.equal(true);
    expect(chunkTypes(input.bytes)).not.to.include('zTXt');
    // In this thread, as a tile stream decodes; then as a worker is given it (engine.ts, decodeShared).
    const here = await decodeImage(input, DEFAULT_DECODE_LIMITS);
    const posted = await decodeImage(new SharpInput(input.bytes, text.drop, input.dropped), DEFAULT_DECODE_LIMITS);
    for (const { image } of [here, posted]) expect([image.width, image.height]).to.deep.equal([24, 40]);
    expect(text.runs()).to.equal(1);
  });
});
