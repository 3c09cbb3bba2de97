import { expect } from 'chai';
import { collectGarbage } from '../../src/engine/runtime/collect-garbage.js';
import { StockLoans } from '../../src/server/stock-loans.js';
import { WarmBufferStock } from '../../src/server/warm-buffer-stock.js';

const MiB = 1 << 20;

/** A stock that always has a buffer ready: made at once, taken on the next turn's first call. */
async function fullStock(): Promise<WarmBufferStock> {
  const stock = new WarmBufferStock((bytes) => Promise.resolve(new SharedArrayBuffer(bytes)), 4 * MiB, 1024 * MiB);
  for (let i = 0; i < 8; i++) stock.take(8 * MiB);
  await new Promise((resolve) => setImmediate(resolve));
  return stock;
}

const fromStock = (buffer: Buffer): boolean => buffer.buffer instanceof SharedArrayBuffer;

describe('StockLoans', () => {
  it('lends stock buffers to messages still arriving up to its cap, on the prefix or later, then gives ordinary ones; a whole message ends its loan', async () => {
    const loans = new StockLoans(await fullStock(), 16 * MiB);
    const [a, b, c] = [loans.forStream(), loans.forStream(), loans.forStream()];
    expect(fromStock(a.ready(8 * MiB)!)).to.equal(true);
    expect(fromStock(b.allocate(8 * MiB))).to.equal(true);
    expect(loans.bytesLent).to.equal(16 * MiB);
    expect(c.ready(8 * MiB), 'past the cap, nothing on the prefix').to.equal(undefined);
    expect(fromStock(c.allocate(8 * MiB)), 'past the cap').to.equal(false);
    a.completed();
    a.completed();
    expect(loans.bytesLent).to.equal(8 * MiB);
    expect(fromStock(c.allocate(8 * MiB))).to.equal(true);
  });

  it('ends the loan of a stream that is collected before its message is whole (an abandoned upload)', async () => {
    const loans = new StockLoans(await fullStock(), 16 * MiB);
    (() => loans.forStream().ready(8 * MiB))();
    expect(loans.bytesLent).to.equal(8 * MiB);
    for (let i = 0; i < 50 && loans.bytesLent > 0; i++) {
      collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(loans.bytesLent).to.equal(0);
  });

  it('makes the pages of a large ordinary buffer resident ahead of its copying, and of no buffer from the stock', async () => {
    const asked: number[] = [];
    const loans = new StockLoans(await fullStock(), 8 * MiB, async (region) => (asked.push(region.byteLength), true));
    const [lent, large, small] = [loans.forStream(), loans.forStream(), loans.forStream()];
    expect(fromStock(lent.allocate(8 * MiB))).to.equal(true);
    lent.arrived(MiB);
    expect(lent.residentBytes()).to.equal(Infinity);
    expect(fromStock(large.allocate(8 * MiB))).to.equal(false);
    expect(large.residentBytes()).to.equal(0);
    large.arrived(MiB);
    expect(fromStock(small.allocate(4 * MiB))).to.equal(false);
    small.arrived(MiB);
    expect(small.residentBytes()).to.equal(Infinity);
    for (let i = 0; i < 40; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(large.residentBytes(), 'what arrived and a quarter of it').to.equal(1.25 * MiB);
    expect(asked.reduce((a, b) => a + b, 0)).to.equal(1.25 * MiB);
    large.completed();
    expect(large.residentBytes(), 'no buffer once the message is whole').to.equal(Infinity);
  });
});
