import { expect } from 'chai';
import { collectGarbage } from '../../src/engine/runtime/collect-garbage.js';
import { SharedBufferThread } from '../../src/engine/runtime/shared-buffer-thread.js';
import { waitFor } from '../../src/dev/wait-for.js';

describe('SharedBufferThread', () => {
  it('makes zero-filled shared buffers of the sizes asked, answering each request with its own', async () => {
    const thread = new SharedBufferThread();
    try {
      const sizes = [64 * 1024, 5 << 20, 4097];
      const buffers = await Promise.all(sizes.map((bytes) => thread.allocate(bytes)));
      expect(buffers.map((b) => b.byteLength)).to.deep.equal(sizes);
      for (const b of buffers) {
        expect(b).to.be.instanceOf(SharedArrayBuffer);
        expect(new Uint8Array(b).every((v) => v === 0)).to.equal(true);
      }
    } finally {
      await thread.close();
    }
  });

  it('fails a request it cannot meet with the reason, and serves the next', async () => {
    const thread = new SharedBufferThread();
    try {
      let failure: unknown;
      await thread.allocate(2 ** 53).catch((err: unknown) => (failure = err));
      expect(String(failure)).to.match(/could not allocate shared memory: .+/);
      expect((await thread.allocate(1024)).byteLength).to.equal(1024);
    } finally {
      await thread.close();
    }
  });

  it('fails what it owed when closed, and starts afresh for the next request', async () => {
    const thread = new SharedBufferThread();
    const owed = thread.allocate(64 << 20).then(
      () => 'made',
      (err: unknown) => String(err),
    );
    await thread.close();
    expect(await owed).to.match(/^(made|Error: the shared-memory thread exited \(code \d+\))$/);
    expect((await thread.allocate(1024)).byteLength).to.equal(1024);
    await thread.close();
  });

  it('keeps none of the buffers it made: once the caller drops them, their memory goes back', async () => {
    const thread = new SharedBufferThread();
    try {
      const before = process.memoryUsage.rss();
      for (let i = 0; i < 12; i++) await thread.allocate(32 << 20);
      // 384 MB made, resident, and dropped here: only this thread's own collection and ours free
      // them. Without the thread's, V8 got to it by itself only after about 7 s.
      await waitFor(
        () => {
          collectGarbage();
          return process.memoryUsage.rss() < before + (128 << 20);
        },
        3000,
        'the dropped buffers freed',
        100,
      );
    } finally {
      await thread.close();
    }
  });
});
