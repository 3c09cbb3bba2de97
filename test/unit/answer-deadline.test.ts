import { expect } from 'chai';
import { ANSWER_MARGIN_MS, tooLateToAnswer } from '../../src/shared/answer-deadline.js';

describe('tooLateToAnswer', () => {
  it('is late from the margin before the deadline on, never without a deadline', () => {
    expect(tooLateToAnswer(undefined, 1e12)).to.equal(false);
    expect(tooLateToAnswer(1000, 1000 - ANSWER_MARGIN_MS - 1)).to.equal(false);
    expect(tooLateToAnswer(1000, 1000 - ANSWER_MARGIN_MS)).to.equal(true);
    expect(tooLateToAnswer(1000, 1200)).to.equal(true);
  });

  it('counts an answer ready 20 ms before its deadline as late: a loaded caller read one ready 5 ms before it 4 ms after', () => {
    expect(tooLateToAnswer(10_000, 9_980)).to.equal(true);
    expect(tooLateToAnswer(10_000, 9_970)).to.equal(false);
  });
});
