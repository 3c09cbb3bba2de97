import { expect } from 'chai';
import type { Quad } from '../../src/shared/quad.js';
import { mergeRowNeighbours } from '../../src/shared/row-merge.js';
import { textFrame } from '../../src/shared/text-frame.js';

const box = (x0: number, y0: number, x1: number, y1: number): Quad => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
];

describe('mergeRowNeighbours', () => {
  it('joins boxes of one row closer than the gap, keeps far ones and other rows apart', () => {
    const quads = [box(0, 0, 100, 40), box(115, 2, 200, 42), box(400, 0, 500, 40), box(0, 60, 100, 100)];
    const out = mergeRowNeighbours(quads, 0.6);
    expect(out).to.have.length(3);
    expect(out).to.deep.include(box(0, 0, 200, 42));
    expect(out).to.include(quads[2]);
    expect(out).to.include(quads[3]);
  });

  it('returns untouched boxes as the same objects, so callers can tell them from merged ones', () => {
    const quads = [box(0, 0, 100, 40), box(300, 0, 400, 40)];
    const out = mergeRowNeighbours(quads, 0.6);
    expect(out[0]).to.equal(quads[0]);
    expect(out[1]).to.equal(quads[1]);
  });

  it('works along the text direction of a skewed page', () => {
    const slope = Math.tan((3 * Math.PI) / 180);
    const skewed = (x0: number, x1: number): Quad => [
      [x0, x0 * slope],
      [x1, x1 * slope],
      [x1, x1 * slope + 30],
      [x0, x0 * slope + 30],
    ];
    const out = mergeRowNeighbours([skewed(0, 500), skewed(510, 1000)], 0.6);
    expect(out).to.have.length(1);
    const [tl, tr] = out[0]!;
    expect(Math.atan2(tr[1] - tl[1], tr[0] - tl[0])).to.be.closeTo(Math.atan(slope), 1e-9);
  });

  it('textFrame round-trips points', () => {
    const frame = textFrame([box(0, 0, 10, 1)]);
    const p = frame.fromFrame(frame.toFrame([12.5, -3]));
    expect(p[0]).to.be.closeTo(12.5, 1e-9);
    expect(p[1]).to.be.closeTo(-3, 1e-9);
  });
});
