import { expect } from 'chai';

import {
  encodeBytesFirst,
  encodeRecognizeLinesRequest,
  encodeRecognizeRequest,
  encodeTileRequest,
} from '../../src/client/request-encoding.js';
import { RecognizeLinesRequest, RecognizeRequest, TileRequest, type RecognizeOptions } from '../../src/gen/ocr/v1/ocr.js';

/** Bytes that differ from one position to the next, so a shifted copy shows. */
const bytes = (length: number, seed: number): Buffer => {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return b;
};

// Lengths whose varints take 1, 2 and 3 bytes, on both sides of each boundary.
const LENGTHS = [0, 1, 127, 128, 16_383, 16_384, 300_000];
const OPTIONS: RecognizeOptions = {
  maxSideLen: 1600,
  boxThreshold: 0.5,
  unclipRatio: 1.5,
  useAngleCls: true,
  minConfidence: 0.25,
  minSideLen: 64,
  autoRotate: false,
};

describe('request encoding (one copy of each image)', () => {
  it('writes RecognizeLines requests byte for byte as ts-proto does', () => {
    const images = LENGTHS.map((n, i) => bytes(n, i));
    for (const request of [
      { images, options: OPTIONS },
      { images, options: undefined },
      { images: [], options: OPTIONS },
    ]) {
      const lean = encodeRecognizeLinesRequest(request);
      expect(lean.equals(Buffer.from(RecognizeLinesRequest.encode(request).finish()))).to.equal(true);
      expect(RecognizeLinesRequest.decode(lean).images.map((b) => b.length)).to.deep.equal(request.images.map((b) => b.length));
    }
  });

  it('writes Recognize requests byte for byte as ts-proto does, an empty image left out', () => {
    for (const n of LENGTHS) {
      for (const options of [OPTIONS, undefined]) {
        const request = { image: bytes(n, n), options };
        expect(encodeRecognizeRequest(request).equals(Buffer.from(RecognizeRequest.encode(request).finish()))).to.equal(true);
      }
    }
  });

  it('writes Tile requests that decode to the same request, image first', () => {
    for (const n of LENGTHS) {
      const request: TileRequest = {
        imageId: 'page-7',
        x: 1024,
        y: 2048,
        imageWidth: 2480,
        imageHeight: 3508,
        tileIndex: 5,
        tileCount: 12,
        image: bytes(n, 3),
        options: OPTIONS,
      };
      const lean = encodeTileRequest(request);
      expect(lean.length).to.equal(TileRequest.encode(request).finish().length);
      expect(TileRequest.decode(lean)).to.deep.equal(request);
    }
  });

  it('puts the chunks before the rest, each behind its tag and length', () => {
    const rest = Uint8Array.of(0x10, 0x05);
    // Field 8, length-delimited: tag 0x42; 200 = 0xc8 0x01 as a varint.
    const out = encodeBytesFirst(8, [bytes(200, 1), Uint8Array.of(9)], rest);
    expect([...out.subarray(0, 3)]).to.deep.equal([0x42, 0xc8, 0x01]);
    expect(out.subarray(3, 203).equals(bytes(200, 1))).to.equal(true);
    expect([...out.subarray(203)]).to.deep.equal([0x42, 0x01, 0x09, 0x10, 0x05]);
  });
});
