import { expect } from 'chai';
import { refusalHoldMs } from '../../src/server/refusal-pace.js';

describe('refusalHoldMs', () => {
  it('holds a refusal for load for the pace', () => {
    expect(refusalHoldMs(50, 2000, 9000)).to.equal(50);
    expect(refusalHoldMs(50, 2000, undefined)).to.equal(50);
  });

  it('never longer than the wait the refusal suggests, nor past half the time the call has left', () => {
    expect(refusalHoldMs(50, 20, 9000)).to.equal(20);
    expect(refusalHoldMs(50, 2000, 60)).to.equal(30);
    expect(refusalHoldMs(50, 2000, -5)).to.equal(0);
  });

  it('counts the time the call already waited as part of the pace', () => {
    expect(refusalHoldMs(50, 2000, 9000, 30)).to.equal(20);
    expect(refusalHoldMs(50, 2000, 9000, 80)).to.equal(0);
    expect(refusalHoldMs(50, 10, 9000, 30)).to.equal(10);
  });

  it('answers at once a refusal that no wait can fix, one not for load, or with pacing off', () => {
    expect(refusalHoldMs(50, -1, 9000)).to.equal(0);
    expect(refusalHoldMs(50, undefined, 9000)).to.equal(0);
    expect(refusalHoldMs(0, 2000, 9000)).to.equal(0);
  });
});
