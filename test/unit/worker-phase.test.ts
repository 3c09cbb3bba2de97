import { expect } from 'chai';
import { asNative, claimForStop, newPhaseCell, PHASE_JS, PHASE_NATIVE } from '../../src/engine/runtime/worker-phase.js';

/** A native call that ends when told to; `retired` counts the calls to what ends a retired thread. */
function held(cell: Int32Array, retired = { count: 0 }): { done: Promise<void>; end: () => void } {
  let end!: () => void;
  const done = asNative(
    cell,
    () => new Promise<void>((resolve) => (end = resolve)),
    () => retired.count++,
  );
  return { done, end };
}

describe('worker phase', () => {
  it('keeps a thread native until the last of its overlapping native calls has ended (a session made while a model runs)', async () => {
    const cell = newPhaseCell();
    const first = held(cell);
    const second = held(cell);
    expect(Atomics.load(cell, 0)).to.equal(PHASE_NATIVE);
    first.end();
    await first.done;
    expect(Atomics.load(cell, 0), 'one call still inside').to.equal(PHASE_NATIVE);
    second.end();
    await second.done;
    expect(Atomics.load(cell, 0)).to.equal(PHASE_JS);
  });

  it('retires a thread inside a native call, ended as soon as the call returns, and refuses a native call once the pool has claimed the thread', async () => {
    const busy = newPhaseCell();
    const retired = { count: 0 };
    const call = held(busy, retired);
    expect(claimForStop(busy)).to.equal('retired');
    expect(retired.count, 'ended during its call').to.equal(0);
    call.end();
    await call.done;
    expect(retired.count, 'ended once its call returned').to.equal(1);
    const idle = newPhaseCell();
    expect(claimForStop(idle)).to.equal('terminate');
    await asNative(idle, async () => 'ran').then(
      () => expect.fail('a claimed thread must not enter native code'),
      (err: Error) => expect(err.message).to.match(/being stopped/),
    );
  });
});
