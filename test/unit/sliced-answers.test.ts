import { expect } from 'chai';
import { SlicedAnswers, type AnswerTurns } from '../../src/server/sliced-answers.js';
import { loopbackReads } from '../support/loopback-reads.js';

/** Turns run by hand, on a clock that each answer moves. */
function handTurns(): AnswerTurns & { clock: number; pending: Array<() => void>; turn(): void } {
  const turns = {
    clock: 0,
    pending: [] as Array<() => void>,
    now: () => turns.clock,
    next: (run: () => void) => void turns.pending.push(run),
    turn: () => turns.pending.shift()!(),
  };
  return turns;
}

describe('SlicedAnswers', () => {
  it('runs answers in order, as many a turn as fit in the slice', () => {
    const turns = handTurns();
    const answers = new SlicedAnswers(5, turns);
    const ran: number[] = [];
    for (let i = 0; i < 7; i++)
      answers.run(() => {
        ran.push(i);
        turns.clock += 2;
      });
    expect(ran).to.deep.equal([]);
    turns.turn();
    // 2, 4, 6 ms: the third reaches the slice, the rest wait for the next turn.
    expect(ran).to.deep.equal([0, 1, 2]);
    expect(answers.waiting).to.equal(4);
    turns.turn();
    turns.turn();
    expect(ran).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
    expect(turns.pending).to.have.length(0);
  });

  it('runs an answer queued by another in a later turn, after those queued before it', () => {
    const turns = handTurns();
    const answers = new SlicedAnswers(5, turns);
    const ran: string[] = [];
    answers.run(() => {
      ran.push('status');
      answers.run(() => ran.push('reset'));
    });
    answers.run(() => ran.push('another status'));
    turns.turn();
    expect(ran).to.deep.equal(['status', 'another status']);
    turns.turn();
    expect(ran).to.deep.equal(['status', 'another status', 'reset']);
  });

  it('an answer that throws fails alone: the others still run', () => {
    const turns = handTurns();
    const answers = new SlicedAnswers(5, turns);
    const ran: number[] = [];
    answers.run(() => ran.push(1));
    answers.run(() => {
      throw new Error('boom');
    });
    answers.run(() => ran.push(3));
    expect(() => turns.turn()).to.throw('boom');
    turns.turn();
    expect(ran).to.deep.equal([1, 3]);
  });

  it('on the event loop, sockets are read between two slices', async () => {
    const seen: string[] = [];
    const { client, close } = await loopbackReads(seen);
    try {
      const answers = new SlicedAnswers(5);
      // Forty answers of 1 ms each, queued at once as a crowd of refusals falls due: the first sends
      // a byte, readable at once, which must be read long before the last answer runs.
      let last!: () => void;
      const done = new Promise<void>((resolve) => (last = resolve));
      for (let i = 0; i < 40; i++)
        answers.run(() => {
          if (i === 0) client.write('x');
          const until = performance.now() + 1;
          while (performance.now() < until);
          seen.push(`answer ${i}`);
          if (i === 39) last();
        });
      await done;
      const read = seen.indexOf('read x');
      expect(read, seen.join(', ')).to.be.above(0);
      expect(read, seen.join(', ')).to.be.below(seen.indexOf('answer 39'));
    } finally {
      close();
    }
  });
});
