import { expect } from 'chai';
import { UploadChurnTrim } from '../../src/server/memory-trim.js';

/** A trim that records when it ran and lets a test wait for the next one. */
function recordingTrim(): { trim: () => Promise<boolean>; at: number[]; next: () => Promise<void> } {
  const at: number[] = [];
  let waiter: (() => void) | undefined;
  return {
    at,
    trim: () => {
      at.push(performance.now());
      waiter?.();
      return Promise.resolve(true);
    },
    next: () => new Promise((resolve) => (waiter = resolve)),
  };
}

const timerTurn = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('UploadChurnTrim', () => {
  it('trims once uploads have received its bytes since the last trim, not before', async () => {
    const { trim, at, next } = recordingTrim();
    const churn = new UploadChurnTrim(100, 50, trim);
    churn.received(60);
    churn.received(39);
    // A trim due now would have run before this later timer.
    await timerTurn(20);
    expect(at).to.have.length(0);
    const trimmed = next();
    churn.received(1);
    await trimmed;
    expect(at).to.have.length(1);
    churn.stop();
  });

  it('trims at most once every everyMs, counting the bytes received meanwhile into the trim that follows them', async () => {
    const { trim, at, next } = recordingTrim();
    const churn = new UploadChurnTrim(100, 200, trim);
    let trimmed = next();
    churn.received(100);
    await trimmed;
    trimmed = next();
    churn.received(150);
    churn.received(150);
    await trimmed;
    expect(at).to.have.length(2);
    expect(at[1]! - at[0]!).to.be.at.least(199);
    await timerTurn(250);
    expect(at, 'the bytes received before the second trim are not counted again').to.have.length(2);
    expect(churn.trims).to.equal(2);
    churn.stop();
  });

  it('keeps everyMs between trims although a timer may fire early by performance.now()', async () => {
    const { trim, at, next } = recordingTrim();
    const churn = new UploadChurnTrim(100, 20, trim);
    for (let round = 0; round < 20; round++) {
      const trimmed = next();
      churn.received(100);
      await trimmed;
    }
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(Math.min(...gaps)).to.be.at.least(20);
    churn.stop();
  });
});
