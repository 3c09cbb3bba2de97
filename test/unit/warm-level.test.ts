import { expect } from 'chai';
import { levelHeld } from '../../src/dev/warm-server.js';

const MB = 1e6;

describe('levelHeld: when the warm-up has left no session cold', () => {
  it('needs two rounds: one level says nothing of what the next round adds', () => {
    expect(levelHeld([])).to.equal(false);
    expect(levelHeld([850 * MB])).to.equal(false);
  });

  it('holds when the last round raised the level by less than 64 MB, as rounds on warm sessions do, or lowered it', () => {
    expect(levelHeld([843 * MB, 835 * MB])).to.equal(true);
    expect(levelHeld([803 * MB, 911 * MB, 944 * MB])).to.equal(true);
  });

  it('does not hold when the last round warmed a cold session (0.17 GB)', () => {
    expect(levelHeld([710 * MB, 890 * MB])).to.equal(false);
    expect(levelHeld([710 * MB, 890 * MB, 896 * MB])).to.equal(true);
  });
});
