import { expect } from 'chai';
import { pickSlot, type SlotState } from '../../src/engine/runtime/worker-pool.js';

const slots = (...states: ('idle' | 'busy' | 'wide' | 'wide-busy')[]): SlotState[] =>
  states.map((s) => ({ posted: s.endsWith('busy') ? 1 : 0, wide: s.startsWith('wide') }));

describe('worker pool dispatch (pickSlot)', () => {
  it('sends a task that has the pool to itself to the wide worker, wherever it sits', () => {
    expect(pickSlot(slots('idle', 'idle', 'wide'), 0, 1)).to.deep.equal({ index: 2, alone: true });
    expect(pickSlot(slots('wide', 'idle'), 0, 1)).to.deep.equal({ index: 0, alone: true });
  });

  it('does not run a task alone while another worker is busy', () => {
    expect(pickSlot(slots('busy', 'idle', 'wide'), 0, 1)).to.deep.equal({ index: 1, alone: false });
    expect(pickSlot(slots('idle', 'wide-busy'), 0, 1)).to.deep.equal({ index: 0, alone: false });
  });

  it('does not run a task alone while other tasks wait, and fills the first idle worker', () => {
    expect(pickSlot(slots('idle', 'wide'), 3, 1)).to.deep.equal({ index: 0, alone: false });
  });

  it('answers null when every worker is busy', () => {
    expect(pickSlot(slots('busy', 'wide-busy'), 0, 1)).to.equal(null);
  });

  it('with depth 2, gives a busy worker one task ahead, the least loaded first, and no more', () => {
    const posted = (...n: number[]): SlotState[] => n.map((p) => ({ posted: p, wide: false }));
    expect(pickSlot(posted(2, 1), 5, 2)).to.deep.equal({ index: 1, alone: false });
    expect(pickSlot(posted(1, 1), 0, 2)).to.deep.equal({ index: 0, alone: false });
    expect(pickSlot(posted(2, 2), 5, 2)).to.equal(null);
    expect(pickSlot(posted(1, 0), 5, 2)).to.deep.equal({ index: 1, alone: false });
  });

  it('runs alone on the first idle worker where none is wide (one core, or one detector thread)', () => {
    expect(pickSlot(slots('idle', 'idle'), 0, 1)).to.deep.equal({ index: 0, alone: true });
  });
});
