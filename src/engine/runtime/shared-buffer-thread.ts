/**
 * Fresh shared buffers, made and first touched on a thread of their own. A SharedArrayBuffer is
 * zero-filled by the thread that makes it, and on this machine the first touch of a page costs
 * about 11 µs: in the burst of large uploads, a 30 MB buffer made on the main thread held it for a
 * tenth of a second or more, every caller waiting (docs/BENCHMARKS.md, "Bursts of large
 * uploads"). Made here, every page is resident before the main thread copies into it or a worker
 * decodes into it.
 */
import { Worker } from 'node:worker_threads';

/**
 * Plain JavaScript, evaluated: the thread needs nothing but this. A buffer's memory is freed only
 * once every thread that saw it has collected its object, and this thread allocates too little
 * else ever to collect: without a collection after each answer, twenty 30 MB buffers the main
 * thread had dropped stayed resident (as collect-garbage.ts, gc() read from a fresh context).
 */
const SOURCE = `
const { parentPort } = require('node:worker_threads');
require('node:v8').setFlagsFromString('--expose-gc');
const collect = require('node:vm').runInNewContext('gc');
const PAGE = 4096;
let collecting = false;
parentPort.on('message', ({ id, bytes }) => {
  try {
    const buffer = new SharedArrayBuffer(bytes);
    // A zero page mapped lazily by the kernel is made resident only by a write.
    const view = new Uint8Array(buffer);
    for (let at = 0; at < bytes; at += PAGE) view[at] = 0;
    parentPort.postMessage({ id, buffer });
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
  if (!collecting) {
    collecting = true;
    setImmediate(() => { collecting = false; collect(); });
  }
});
`;

interface Reply {
  id: number;
  buffer?: SharedArrayBuffer;
  error?: string;
}

interface Waiting {
  resolve(buffer: SharedArrayBuffer): void;
  reject(err: Error): void;
}

export class SharedBufferThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();

  /** A zero-filled SharedArrayBuffer of `bytes`, its pages resident. */
  allocate(bytes: number): Promise<SharedArrayBuffer> {
    const worker = this.started();
    const id = this.nextId++;
    return new Promise<SharedArrayBuffer>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // Held open only while an answer is due: an idle thread keeps no process alive.
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ id, bytes });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const waiting = this.waiting.get(reply.id);
      if (!waiting) return;
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) worker.unref();
      if (reply.buffer) waiting.resolve(reply.buffer);
      else waiting.reject(new Error(`could not allocate shared memory: ${reply.error ?? 'no buffer'}`));
    });
    // Gone (terminated, or failed): whatever it still owed fails, and the next allocation starts another.
    const gone = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiting of this.waiting.values()) waiting.reject(err);
      this.waiting.clear();
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`the shared-memory thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}
