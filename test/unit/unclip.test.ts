import { expect } from 'chai';
import { minAreaRect, polygonArea, polygonPerimeter } from '../../src/engine/detect/geometry.js';
import { unclip } from '../../src/engine/detect/unclip.js';
import type { Point } from '../../src/engine/types.js';

function bounds(poly: readonly Point[]): [number, number, number, number] {
  const xs = poly.map((p) => p[0]);
  const ys = poly.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

describe('unclip', () => {
  it('grows a 40×10 rectangle by area·ratio/perimeter = 6 on every side', () => {
    // 400 · 1.5 / 100 = 6
    const out = unclip(
      [
        [10, 10],
        [50, 10],
        [50, 20],
        [10, 20],
      ],
      1.5,
    );
    expect(bounds(out)).to.deep.equal([4, 4, 56, 26]);
    // Round joins: corners are cut, so the area is below the full 52×22 rectangle's but above the
    // rectangle plus its four side strips.
    const a = polygonArea(out);
    expect(a).to.be.lessThan(52 * 22);
    expect(a).to.be.greaterThan(400 + 2 * 6 * 40 + 2 * 6 * 10);
    // pyclipper's exact output for the same call.
    expect(out).to.deep.equal([
      [53, 5],
      [55, 8],
      [56, 10],
      [56, 20],
      [55, 23],
      [52, 25],
      [50, 26],
      [10, 26],
      [7, 25],
      [5, 22],
      [4, 20],
      [4, 10],
      [5, 7],
      [8, 5],
      [10, 4],
      [50, 4],
    ]);
  });

  it('truncates float corners to integers first, as pyclipper does', () => {
    // minAreaRect corners of an axis-aligned block carry float32 noise just below the integers.
    const out = unclip(
      [
        [68.99999237060547, 87.99999237060547],
        [151.99996948242188, 87.99999237060547],
        [151.99996948242188, 93.99999237060547],
        [68.99999237060547, 93.99999237060547],
      ],
      1.5,
    );
    expect(out).to.deep.equal([
      [154, 84],
      [155, 87],
      [155, 93],
      [154, 96],
      [151, 97],
      [68, 97],
      [65, 96],
      [64, 93],
      [64, 87],
      [65, 84],
      [68, 83],
      [151, 83],
    ]);
  });

  it('stays within a pixel of C++ Clipper (pyclipper) on small offsets', () => {
    // clipper-lib places arc points on tiny boxes slightly differently; what matters downstream is
    // the minimum-area rectangle of the points, which must agree within a pixel.
    const cases: { input: Point[]; cpp: Point[] }[] = [
      {
        input: [
          [179, 123],
          [181, 125],
          [170, 137],
          [168, 135],
        ],
        cpp: [
          [182, 124],
          [182, 126],
          [171, 138],
          [169, 138],
          [167, 136],
          [167, 134],
          [178, 122],
          [180, 122],
        ],
      },
      {
        input: [
          [132.00001525878906, 47.00000762939453],
          [135.50001525878906, 50.50000762939453],
          [132.00001525878906, 54.00000762939453],
          [128.50001525878906, 50.50000762939453],
        ],
        cpp: [
          [136, 49],
          [136, 51],
          [133, 55],
          [132, 56],
          [127, 51],
          [126, 49],
          [127, 49],
          [131, 46],
          [133, 46],
        ],
      },
    ];
    for (const { input, cpp } of cases) {
      const ours = minAreaRect(unclip(input, 1.5)).corners;
      const theirs = minAreaRect(cpp).corners;
      ours.forEach((p, i) => {
        expect(Math.abs(p[0] - theirs[i]![0]), `x of corner ${i}`).to.be.at.most(1);
        expect(Math.abs(p[1] - theirs[i]![1]), `y of corner ${i}`).to.be.at.most(1);
      });
    }
  });

  it('does not depend on the orientation of the input', () => {
    const cw: Point[] = [
      [10, 10],
      [50, 10],
      [50, 20],
      [10, 20],
    ];
    expect(polygonArea(unclip(cw.slice().reverse(), 1.5))).to.equal(polygonArea(unclip(cw, 1.5)));
  });

  it('uses a larger distance for a larger ratio', () => {
    const q: Point[] = [
      [0, 0],
      [100, 0],
      [100, 20],
      [0, 20],
    ];
    const d2 = (polygonArea(q) * 2) / polygonPerimeter(q);
    expect(bounds(unclip(q, 2))).to.deep.equal([-Math.round(d2), -Math.round(d2), 100 + Math.round(d2), 20 + Math.round(d2)]);
  });

  it('returns [] for degenerate input', () => {
    expect(
      unclip(
        [
          [1, 1],
          [1, 1],
          [1, 1],
          [1, 1],
        ],
        1.5,
      ),
    ).to.deep.equal([]);
    expect(
      unclip(
        [
          [0, 0],
          [5, 0],
          [10, 0],
          [3, 0],
        ],
        1.5,
      ),
    ).to.deep.equal([]);
  });
});
