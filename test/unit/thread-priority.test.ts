import { expect } from 'chai';
import { once } from 'node:events';
import os from 'node:os';
import { Worker } from 'node:worker_threads';

const MODULE = new URL('../../src/engine/runtime/thread-priority.js', import.meta.url).href;

/** In a thread of its own: its nice set to `start` (raised only, which needs no privilege), then lowered by `by` steps; the nice it ends with. */
async function niceAfter(start: number, by: number): Promise<number> {
  const code = `
    import os from 'node:os';
    import { parentPort } from 'node:worker_threads';
    import { lowerThreadPriority } from '${MODULE}';
    os.setPriority(${start});
    lowerThreadPriority(${by});
    parentPort.postMessage(os.getPriority());`;
  const worker = new Worker(code, { eval: true });
  const [nice] = (await once(worker, 'message')) as [number];
  await worker.terminate();
  return nice;
}

describe('lowerThreadPriority', function () {
  before(function () {
    // A nice value is a thread's only on Linux; elsewhere it would lower this whole test process.
    if (process.platform !== 'linux') this.skip();
  });

  it('lowers the calling thread by the steps asked, and no other thread', async () => {
    const main = os.getPriority();
    expect(await niceAfter(Math.max(main, 10), 5)).to.equal(Math.max(main, 10) + 5);
    expect(os.getPriority()).to.equal(main);
  });

  it('stops at the lowest priority instead of failing', async () => {
    expect(await niceAfter(17, 5)).to.equal(os.constants.priority.PRIORITY_LOW);
  });
});
