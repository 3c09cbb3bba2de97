import { expect } from 'chai';
import { glibc } from '../../src/server/libc.js';
import { AHEAD_BYTES, PagesAhead, populatePages } from '../../src/server/pages-ahead.js';
import { dropPages, residentPages } from '../support/resident-pages.js';

const MiB = 1 << 20;

describe('PagesAhead', () => {
  it('makes the pages resident a piece at a time from the start, ahead of what has arrived by a quarter of it, at most a window', async () => {
    const buffer = Buffer.allocUnsafe(40 * MiB + 100).subarray(100);
    const asked: [number, number][] = [];
    let release = (): void => undefined;
    const ahead = new PagesAhead(buffer, (region) => {
      asked.push([region.byteOffset - buffer.byteOffset, region.byteLength]);
      return new Promise((resolve) => (release = () => resolve(true)));
    });
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        release();
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    expect(AHEAD_BYTES).to.equal(4 * MiB);
    expect(ahead.residentBytes).to.equal(0);
    ahead.arrived(3 * MiB);
    ahead.arrived(3 * MiB + 1);
    expect(asked, 'one piece at a time').to.deep.equal([[0, MiB / 4]]);
    await settle();
    expect(ahead.residentBytes, '3 MiB and a quarter of it').to.equal(Math.ceil((15 * MiB + 5) / 4));
    ahead.arrived(20 * MiB);
    await settle();
    expect(ahead.residentBytes, 'at most a window ahead').to.equal(24 * MiB);
    expect(asked.every((piece) => piece[1] <= MiB / 4)).to.equal(true);
    expect(
      asked.every(([from], i) => i === 0 || from === asked[i - 1]![0] + asked[i - 1]![1]),
      'contiguous',
    ).to.equal(true);
    ahead.arrived(39 * MiB);
    await settle();
    expect(ahead.residentBytes, 'up to the end, and no further').to.equal(40 * MiB);
  });

  it('leaves the pages to the copies where they cannot be populated', async () => {
    const ahead = new PagesAhead(Buffer.allocUnsafe(20 * MiB), async () => false);
    ahead.arrived(MiB);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ahead.residentBytes).to.equal(20 * MiB);
  });

  it('makes the pages of an unaligned region resident without changing its bytes (glibc, Linux 5.14 or later)', async function () {
    if (!glibc()) this.skip();
    const buffer = Buffer.allocUnsafe(96 * MiB);
    const region = buffer.subarray(4096 * 10 + 7, 4096 * 10 + 7 + 64 * MiB);
    // malloc may hand out memory a test before freed, still resident: its pages are dropped first.
    expect(dropPages(region)).to.equal(true);
    region[0] = 42;
    region[MiB] = 43;
    // None resident now but the one written in full (and a transparent huge page that came with it).
    expect(residentPages(region)!.resident).to.be.below(1024);
    expect(await populatePages(region)).to.equal(true);
    expect(residentPages(region)).to.deep.equal({ pages: 64 * 256 - 1, resident: 64 * 256 - 1 });
    expect([region[0], region[MiB]]).to.deep.equal([42, 43]);
  });
});
