/**
 * Buffers of the warm stock lent to messages still arriving, up to a cap. A buffer from the stock
 * is resident in full, and each one taken is replaced: stalled uploads holding stock buffers would
 * otherwise each hold their whole declared size in resident memory, and 160 uploads stalled at 5 MB
 * of a declared 32 MiB took the server 2.7 GB above its level (docs/BENCHMARKS.md, "Stalled uploads
 * on many connections"). A loan ends when its message is whole, or when the stream that held it is
 * collected; past the cap a message waits to earn an ordinary buffer (incremental-decoder.ts),
 * whose untouched pages cost nothing; those of a large one are made resident just ahead of its
 * copying, off the main thread (pages-ahead.ts).
 */
import type { MessageAllocator } from './incremental-decoder.js';
import { AHEAD_BYTES, PagesAhead, populatePages, type Populate } from './pages-ahead.js';
import type { WarmBufferStock } from './warm-buffer-stock.js';

export class StockLoans {
  private lent = 0;
  private readonly owed = new WeakMap<MessageAllocator, number>();
  private readonly abandoned = new FinalizationRegistry<number>((bytes) => (this.lent -= bytes));

  constructor(
    private readonly stock: WarmBufferStock,
    private readonly capBytes: number,
    private readonly populate: Populate = populatePages,
  ) {}

  /**
   * The allocator of one stream's messages: each from the stock while the loans fit, on its prefix
   * (a loan is bounded whether or not the message comes), else an ordinary buffer once it has earned one.
   */
  forStream(): MessageAllocator {
    let ahead: PagesAhead | undefined;
    const stream: MessageAllocator = {
      ready: (bytes) => this.lend(stream, bytes),
      allocate: (bytes) => {
        const warm = this.lend(stream, bytes);
        if (warm) return warm;
        const buffer = Buffer.allocUnsafe(bytes);
        if (bytes > AHEAD_BYTES) ahead = new PagesAhead(buffer, this.populate);
        return buffer;
      },
      arrived: (bytes) => ahead?.arrived(bytes),
      residentBytes: () => ahead?.residentBytes ?? Infinity,
      completed: () => {
        ahead = undefined;
        this.settle(stream);
      },
    };
    return stream;
  }

  /** Bytes lent to messages not yet whole. */
  get bytesLent(): number {
    return this.lent;
  }

  private lend(stream: MessageAllocator, bytes: number): Buffer | undefined {
    const warm = this.lent + bytes <= this.capBytes ? this.stock.take(bytes) : undefined;
    if (!warm) return undefined;
    this.lent += warm.byteLength;
    this.owed.set(stream, warm.byteLength);
    this.abandoned.register(stream, warm.byteLength, stream);
    return Buffer.from(warm, 0, bytes);
  }

  private settle(stream: MessageAllocator): void {
    const bytes = this.owed.get(stream);
    if (bytes === undefined) return;
    this.owed.delete(stream);
    this.abandoned.unregister(stream);
    this.lent -= bytes;
  }
}
