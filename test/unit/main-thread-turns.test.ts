import { expect } from 'chai';
import { MainThreadTurns } from '../../src/engine/runtime/main-thread-turns.js';
import { loopbackReads } from '../support/loopback-reads.js';

describe('MainThreadTurns', () => {
  it('gives turns taken at once in order, each in its own event loop iteration, with sockets read between them', async () => {
    const seen: string[] = [];
    const { client, close } = await loopbackReads(seen);
    try {
      const turns = new MainThreadTurns();
      // Each turn sends a byte over loopback, readable at once: its read must come before the next turn.
      const taken = [1, 2, 3].map((n) =>
        turns.take().then(() => {
          seen.push(`turn ${n}`);
          client.write(String(n));
        }),
      );
      await Promise.all(taken);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(seen).to.deep.equal(['turn 1', 'read 1', 'turn 2', 'read 2', 'turn 3', 'read 3']);
    } finally {
      close();
    }
  });

  it('copies a large source a slice per turn, with the event loop turning between slices', async () => {
    const source = new Uint8Array(10 << 20).map((_, i) => (i % 251) + 1);
    const target = new Uint8Array(source.length + 7);
    // Each iteration of the loop, how much of the target is filled so far (slices fill it front to back).
    const filled: number[] = [];
    let copying = true;
    const watch = (): void => {
      if (!copying) return;
      filled.push(target.indexOf(0));
      setImmediate(watch);
    };
    setImmediate(watch);
    await new MainThreadTurns().copy(target, source);
    copying = false;
    expect(Buffer.compare(target.subarray(0, source.length), source)).to.equal(0);
    expect(target.subarray(source.length).every((v) => v === 0)).to.equal(true);
    const partly = new Set(filled.filter((n) => n > 0 && n < source.length));
    expect(partly.size, `fill levels seen between turns: ${[...new Set(filled)].join(', ')}`).to.be.at.least(2);
  });
});
