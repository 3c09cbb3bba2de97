import { expect } from 'chai';
import { mapLimit } from '../../src/client/index.js';

describe('mapLimit', () => {
  it('keeps the order of the results with several calls in flight', async () => {
    expect(await mapLimit([3, 1, 2], 2, async (n) => n * 10)).to.deep.equal([30, 10, 20]);
  });

  it('refuses a limit under 1 or not a whole number, which ran no call and resolved with no result', async () => {
    for (const limit of [0, -1, NaN, 1.5]) {
      const err = await mapLimit([1, 2, 3], limit, async (n) => n).then(
        (results) => expect.fail(`limit ${limit} gave ${JSON.stringify(results)}`),
        (e: unknown) => e,
      );
      expect(err, String(limit)).to.be.instanceOf(RangeError);
      expect((err as Error).message).to.equal(`mapLimit's limit must be a whole number ≥ 1 (or Infinity), got ${limit}`);
    }
    expect(await mapLimit([1, 2], Infinity, async (n) => n)).to.deep.equal([1, 2]);
  });

  it('starts no further call once one has failed, the call in flight beside it left to end', async () => {
    const started: number[] = [];
    let finishSecond: () => void = () => undefined;
    const second = new Promise<void>((resolve) => (finishSecond = resolve));
    const err = await mapLimit([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      if (n === 0) throw new Error('first failed');
      if (n === 1) await second;
      return n;
    }).catch((e: unknown) => e);
    expect((err as Error).message).to.equal('first failed');
    finishSecond();
    // Past every microtask of the lane that held item 1: it would have run the rest by now.
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).to.deep.equal([0, 1]);
  });
});
