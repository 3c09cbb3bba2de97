import { expect } from 'chai';
import { WarmBufferStock } from '../../src/server/warm-buffer-stock.js';

const MiB = 1 << 20;

/** A stock whose buffers are made when the test says so. */
function stock(minBytes: number, capBytes: number) {
  const asked: Array<{ bytes: number; make(): void; fail(): void }> = [];
  const made = new WarmBufferStock(
    (bytes) =>
      new Promise<SharedArrayBuffer>((resolve, reject) =>
        asked.push({ bytes, make: () => resolve(new SharedArrayBuffer(bytes)), fail: () => reject(new Error('no memory')) }),
      ),
    minBytes,
    capBytes,
  );
  return { made, asked };
}

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('WarmBufferStock', () => {
  it('has nothing at first, makes a buffer of the size asked (rounded up to a MiB), and gives it to the next message that fits', async () => {
    const { made, asked } = stock(4 * MiB, 64 * MiB);
    expect(made.take(5 * MiB + 1)).to.equal(undefined);
    expect(asked.map((a) => a.bytes)).to.deep.equal([6 * MiB]);
    asked[0]!.make();
    await settled();
    expect(made.bytesReady).to.equal(6 * MiB);
    const buffer = made.take(5 * MiB + 100);
    expect(buffer?.byteLength).to.equal(6 * MiB);
    expect(made.bytesReady).to.equal(0);
    // Taken, and replaced.
    expect(asked).to.have.length(2);
  });

  it('serves no message under its minimum, and none with a buffer over twice its size', async () => {
    const { made, asked } = stock(4 * MiB, 64 * MiB);
    expect(made.take(MiB)).to.equal(undefined);
    expect(asked).to.have.length(0);
    made.take(20 * MiB);
    asked[0]!.make();
    await settled();
    expect(made.take(8 * MiB)).to.equal(undefined);
    expect(made.take(11 * MiB)?.byteLength).to.equal(20 * MiB);
  });

  it('holds at most its cap, ready and asked for together, and asks again after a failure', async () => {
    const { made, asked } = stock(4 * MiB, 64 * MiB);
    for (let i = 0; i < 5; i++) made.take(30 * MiB);
    expect(asked.map((a) => a.bytes)).to.deep.equal([30 * MiB, 30 * MiB]);
    asked[0]!.fail();
    asked[1]!.make();
    await settled();
    expect(made.bytesReady).to.equal(30 * MiB);
    made.take(8 * MiB);
    expect(asked.map((a) => a.bytes).slice(2)).to.deep.equal([8 * MiB]);
  });

  it('drops what it has ready', async () => {
    const { made, asked } = stock(4 * MiB, 64 * MiB);
    made.take(10 * MiB);
    asked[0]!.make();
    await settled();
    made.drop();
    expect(made.bytesReady).to.equal(0);
    expect(made.take(10 * MiB)).to.equal(undefined);
  });
});
