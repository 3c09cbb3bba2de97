import { expect } from 'chai';
import { decodeChunk, installIncrementalDecoder, startProgress } from '../../src/server/incremental-decoder.js';

const framed = (message: Buffer): Buffer => {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
};

/** A deterministic pseudo-random sequence, so that a failure can be replayed. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

describe('incremental gRPC message decoder', () => {
  it('cuts a stream into its messages however it is chunked: prefixes split, several messages a chunk, empty messages', () => {
    const random = lcg(7);
    const messages = [0, 1, 4, 5, 300, 0, 70_000, 2, 16_384].map((n, i) => Buffer.alloc(n, i + 1));
    const stream = Buffer.concat(messages.map(framed));
    for (let round = 0; round < 50; round++) {
      const state = startProgress();
      const out: Buffer[] = [];
      for (let at = 0; at < stream.length;) {
        const size = round === 0 ? 1 : 1 + Math.floor(random() * (round % 2 ? 10 : 40_000));
        out.push(...decodeChunk(state, stream.subarray(at, at + size), -1));
        at += size;
      }
      expect(out.map((m) => m.subarray(5))).to.deep.equal(messages);
      expect(out.map((m) => m.readUInt32BE(1))).to.deep.equal(messages.map((m) => m.length));
    }
  });

  it('refuses a message longer than the limit from its prefix, before allocating it', () => {
    expect(() => decodeChunk(startProgress(), framed(Buffer.alloc(2048)).subarray(0, 5), 1024)).to.throw(
      'Received message larger than max (2048 vs 1024)',
    );
  });

  it('assembles each message in the buffer its allocator gives, shared memory included', () => {
    const sizes: number[] = [];
    const allocate = (bytes: number): Buffer => {
      sizes.push(bytes);
      return Buffer.from(new SharedArrayBuffer(bytes + 3), 0, bytes);
    };
    const messages = [Buffer.alloc(70_000, 1), Buffer.alloc(3, 2)];
    const stream = Buffer.concat(messages.map(framed));
    const state = startProgress();
    const out = [0, 1000, 40_000, stream.length].flatMap((at, i, cuts) =>
      i === 0 ? [] : decodeChunk(state, stream.subarray(cuts[i - 1], at), -1, allocate),
    );
    expect(sizes).to.deep.equal([70_005, 8]);
    expect(out.every((m) => m.buffer instanceof SharedArrayBuffer)).to.equal(true);
    expect(out.map((m) => m.subarray(5))).to.deep.equal(messages);
  });

  it('replaces grpc-js 1.14 StreamDecoder.write', () => {
    expect(installIncrementalDecoder()).to.equal(true);
  });
});
