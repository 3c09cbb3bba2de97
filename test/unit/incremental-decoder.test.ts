import { expect } from 'chai';
import {
  decodeChunk,
  earnedBytes,
  installIncrementalDecoder,
  startProgress,
  type MessageAllocator,
  type Progress,
} from '../../src/server/incremental-decoder.js';

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

/** A message of `bytes` whose pages each begin with a different byte, framed. */
const pagedStream = (bytes: number): Buffer => {
  const message = Buffer.alloc(bytes);
  for (let i = 0; i < message.length; i += 4096) message[i] = (i / 4096) % 251;
  return framed(message);
};

/** Feeds `stream` to the decoder in 16 KiB chunks, up to a given byte, collecting the messages completed. */
function feeder(stream: Buffer, allocator: MessageAllocator): { state: Progress; out: Buffer[]; feed: (upTo: number) => void } {
  const state = startProgress();
  const out: Buffer[] = [];
  let at = 0;
  const feed = (upTo: number): void => {
    for (; at < upTo; at += Math.min(16_384, upTo - at))
      out.push(...decodeChunk(state, stream.subarray(at, Math.min(upTo, at + 16_384)), -1, allocator));
  };
  return { state, out, feed };
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
    let completed = 0;
    const allocator: MessageAllocator = {
      ready: () => undefined,
      allocate: (bytes) => {
        sizes.push(bytes);
        return Buffer.from(new SharedArrayBuffer(bytes + 3), 0, bytes);
      },
      arrived: () => undefined,
      residentBytes: () => Infinity,
      completed: () => completed++,
    };
    const messages = [Buffer.alloc(70_000, 1), Buffer.alloc(3, 2)];
    const stream = Buffer.concat(messages.map(framed));
    const state = startProgress();
    const out = [0, 1000, 40_000, stream.length].flatMap((at, i, cuts) =>
      i === 0 ? [] : decodeChunk(state, stream.subarray(cuts[i - 1], at), -1, allocator),
    );
    expect(sizes).to.deep.equal([70_005, 8]);
    expect(completed).to.equal(2);
    expect(out.every((m) => m.buffer instanceof SharedArrayBuffer)).to.equal(true);
    expect(out.map((m) => m.subarray(5))).to.deep.equal(messages);
  });

  it('allocates a large message only once an eighth of it has arrived, so that a stalled upload holds what it sent', () => {
    const MiB = 1 << 20;
    const stream = pagedStream(32 * MiB);
    const sizes: number[] = [];
    const fills: number[] = [];
    const allocator: MessageAllocator = {
      ready: () => undefined,
      allocate: (bytes) => (sizes.push(bytes), Buffer.allocUnsafe(bytes)),
      arrived: (bytes) => fills.push(bytes),
      residentBytes: () => Infinity,
      completed: () => undefined,
    };
    const { out, feed } = feeder(stream, allocator);
    feed(4 * MiB);
    expect(sizes, 'a byte short of an eighth').to.deep.equal([]);
    feed(4 * MiB + 1);
    expect(sizes).to.deep.equal([32 * MiB + 5]);
    expect(fills, 'the allocator told what its buffer holds').to.deep.equal([4 * MiB + 1]);
    feed(stream.length);
    expect(fills.at(-1)).to.equal(stream.length);
    expect(fills.every((bytes, i) => i === 0 || bytes > fills[i - 1]!)).to.equal(true);
    expect(out).to.have.length(1);
    expect(out[0]!.equals(stream)).to.equal(true);
    expect([earnedBytes(100), earnedBytes(3 * MiB), earnedBytes(32 * MiB + 5)]).to.deep.equal([100, MiB, 4 * MiB + 1]);
  });

  it('assembles a message in the buffer ready for it on its prefix, when there is one', () => {
    const message = Buffer.alloc(3 << 20, 7);
    const stream = framed(message);
    const ready = Buffer.allocUnsafe(stream.length);
    const allocator: MessageAllocator = {
      ready: (bytes) => (bytes === stream.length ? ready : undefined),
      allocate: () => expect.fail('no allocation past the prefix'),
      arrived: () => undefined,
      residentBytes: () => Infinity,
      completed: () => undefined,
    };
    const state = startProgress();
    expect(decodeChunk(state, stream.subarray(0, 6), -1, allocator)).to.deep.equal([]);
    const [out] = decodeChunk(state, stream.subarray(6), -1, allocator);
    expect(out).to.equal(ready);
    expect(out!.equals(stream)).to.equal(true);
  });

  it('copies into a buffer only as far as its pages are resident, and the rest once they are or the message is whole', () => {
    const stream = pagedStream(12 << 20);
    const buffer = Buffer.alloc(stream.length);
    let resident = 0;
    const allocator: MessageAllocator = {
      ready: () => undefined,
      allocate: () => buffer,
      arrived: () => undefined,
      residentBytes: () => resident,
      completed: () => undefined,
    };
    const { state, out, feed } = feeder(stream, allocator);
    const copiedAsSent = (): boolean =>
      buffer.subarray(0, state.copied).equals(stream.subarray(0, state.copied)) && buffer.subarray(state.copied).every((b) => b === 0);
    feed(2 << 20);
    expect(state.copied, 'no page resident').to.equal(0);
    expect(copiedAsSent()).to.equal(true);
    resident = 3 << 20;
    feed(4 << 20);
    expect(state.copied).to.be.within((3 << 20) - 16_384, 3 << 20);
    expect(copiedAsSent()).to.equal(true);
    resident = 6 << 20;
    feed((5 << 20) + 1);
    expect(state.copied, 'every part that arrived').to.equal((5 << 20) + 1);
    feed(stream.length);
    expect(out).to.have.length(1);
    expect(out[0]).to.equal(buffer);
    expect(out[0]!.equals(stream)).to.equal(true);
  });

  it('replaces grpc-js 1.14 StreamDecoder.write', () => {
    expect(installIncrementalDecoder()).to.equal(true);
  });
});
