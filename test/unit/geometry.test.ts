import { expect } from 'chai';
import { minAreaRect, orderQuad, polygonArea, polygonPerimeter, quadSize } from '../../src/engine/detect/geometry.js';
import type { Point, Quad } from '../../src/engine/types.js';

function closeTo(actual: readonly Point[], expected: readonly Point[], eps = 1e-9): void {
  expect(actual).to.have.length(expected.length);
  actual.forEach((p, i) => {
    expect(p[0], `x of point ${i}`).to.be.closeTo(expected[i]![0], eps);
    expect(p[1], `y of point ${i}`).to.be.closeTo(expected[i]![1], eps);
  });
}

/** A w×h rectangle centred at (cx, cy), turned by deg (clockwise on screen), corners tl, tr, br, bl. */
function rotatedRect(cx: number, cy: number, w: number, h: number, deg: number): Quad {
  const t = (deg * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  const at = (dx: number, dy: number): Point => [cx + dx * c - dy * s, cy + dx * s + dy * c];
  return [at(-w / 2, -h / 2), at(w / 2, -h / 2), at(w / 2, h / 2), at(-w / 2, h / 2)];
}

describe('geometry', () => {
  describe('polygonArea / polygonPerimeter', () => {
    it('measures a 3-4-5 right triangle', () => {
      const tri: Point[] = [
        [0, 0],
        [4, 0],
        [0, 3],
      ];
      expect(polygonArea(tri)).to.equal(6);
      expect(polygonPerimeter(tri)).to.equal(12);
    });

    it('is orientation-independent for a rectangle', () => {
      const cw: Point[] = [
        [1, 1],
        [11, 1],
        [11, 6],
        [1, 6],
      ];
      expect(polygonArea(cw)).to.equal(50);
      expect(polygonArea(cw.slice().reverse())).to.equal(50);
      expect(polygonPerimeter(cw)).to.equal(30);
    });
  });

  describe('orderQuad', () => {
    it('orders an axis-aligned rectangle tl, tr, br, bl whatever the input order', () => {
      const want: Quad = [
        [2, 3],
        [12, 3],
        [12, 8],
        [2, 8],
      ];
      for (const perm of [
        [0, 1, 2, 3],
        [2, 0, 3, 1],
        [3, 2, 1, 0],
        [1, 3, 0, 2],
      ]) {
        expect(orderQuad(perm.map((i) => want[i]!))).to.deep.equal(want);
      }
    });

    it('orders a rectangle rotated by +20° (clockwise on screen)', () => {
      const r = rotatedRect(50, 50, 40, 10, 20);
      expect(orderQuad([r[2], r[0], r[3], r[1]])).to.deep.equal(r);
    });

    it('relabels a rectangle turned by 100° the way get_mini_boxes does', () => {
      // Hand check. Corners of a 40×10 rectangle turned by 100°: tl (8.40, -18.83),
      // tr (1.45, 20.57), br (-8.40, 18.83), bl (-1.45, -20.57). By x: br, bl | tr, tl.
      // Left pair: bl is upper → new tl = bl, new bl = br. Right pair: tl is upper → new tr = tl,
      // new br = tr.
      const [tl, tr, br, bl] = rotatedRect(0, 0, 40, 10, 100);
      expect(orderQuad([tl, tr, br, bl])).to.deep.equal([bl, tl, tr, br]);
    });

    it('on equal y takes the later point of a pair as the upper one, like PaddleOCR', () => {
      // Degenerate but deterministic: all four on one horizontal line.
      const q = orderQuad([
        [0, 5],
        [1, 5],
        [2, 5],
        [3, 5],
      ]);
      expect(q).to.deep.equal([
        [1, 5],
        [3, 5],
        [2, 5],
        [0, 5],
      ]);
    });

    it('rejects anything but four points', () => {
      expect(() =>
        orderQuad([
          [0, 0],
          [1, 1],
          [2, 2],
        ]),
      ).to.throw(RangeError);
    });
  });

  describe('quadSize', () => {
    it('takes the longer of each pair of opposite sides', () => {
      // Trapezoid: top 10, bottom 6; left side 3-4-5 → 5, right side 4.
      const q: Quad = [
        [0, 0],
        [10, 0],
        [8, 4],
        [3, 4],
      ];
      const s = quadSize(q);
      expect(s.width).to.equal(10);
      expect(s.height).to.equal(5);
    });
  });

  describe('minAreaRect', () => {
    // Expected values below are what cv2.minAreaRect / cv2.boxPoints / PaddleOCR's get_mini_boxes
    // return (OpenCV 4.6), float32 noise included: PaddleOCR truncates these corners, so the noise
    // decides whole pixels.
    it('fits pixel indices of a filled 10×5 block as a 9×4 rectangle, with OpenCV size and angle', () => {
      const pts: Point[] = [];
      for (let y = 0; y < 5; y++) for (let x = 0; x < 10; x++) pts.push([x + 7, y + 3]);
      const r = minAreaRect(pts);
      expect(r.center).to.deep.equal([11.5, 5]);
      expect([r.width, r.height, r.angle]).to.deep.equal([4, 9, 90]);
      expect(r.corners).to.deep.equal([
        [7, 3],
        [16, 3],
        [16, 7],
        [7, 7],
      ]);
    });

    it('reproduces the float32 rounding of an axis-aligned box bit for bit', () => {
      const r = minAreaRect([
        [69, 88],
        [152, 88],
        [152, 94],
        [69, 94],
      ]);
      expect(r.center).to.deep.equal([110.49998474121094, 90.99999237060547]);
      expect([r.width, r.height]).to.deep.equal([82.99998474121094, 5.999999046325684]);
      expect(Object.is(r.angle, -0)).to.equal(true);
      expect(r.corners).to.deep.equal([
        [68.99999237060547, 87.99999237060547],
        [151.99996948242188, 87.99999237060547],
        [151.99996948242188, 93.99999237060547],
        [68.99999237060547, 93.99999237060547],
      ]);
    });

    it('matches OpenCV on a tilted quad, a pixel diamond and a steep bar', () => {
      const tilted = minAreaRect([
        [0, 0],
        [10, 5],
        [8, 9],
        [-2, 4],
      ]);
      expect(tilted.center).to.deep.equal([4, 4.5]);
      expect([tilted.width, tilted.height, tilted.angle]).to.deep.equal([11.180339813232422, 4.472135543823242, 26.56505012512207]);
      expect(tilted.corners).to.deep.equal([
        [0, 2.384185791015625e-7],
        [10, 5],
        [8, 9],
        [-2, 4],
      ]);

      // A findContours-ordered contour of a 5-pixel-wide diamond.
      const diamond = minAreaRect([
        [5, 2],
        [4, 3],
        [3, 4],
        [4, 5],
        [5, 5],
        [6, 5],
        [7, 4],
        [6, 3],
      ]);
      expect([diamond.width, diamond.height, diamond.angle]).to.deep.equal([2.8284268379211426, 2.8284268379211426, 45]);
      expect(diamond.corners).to.deep.equal([
        [5.000000476837158, 2],
        [7.000000476837158, 4],
        [5.000000476837158, 6],
        [3.000000476837158, 4],
      ]);

      // Steep: get_mini_boxes makes the long steep side the "top" (tl is the leftmost corner).
      const steep = minAreaRect([
        [100, 10],
        [112, 14],
        [90, 70],
        [78, 66],
      ]);
      expect([steep.width, steep.height, steep.angle]).to.deep.equal([12.63162612915039, 60.83125305175781, 21.447736740112305]);
      expect(steep.corners).to.deep.equal([
        [78, 65.99999237060547],
        [100.24308776855469, 9.381217002868652],
        [112, 14.000007629394531],
        [89.75691223144531, 70.61878204345703],
      ]);
    });

    it('recovers a rectangle rotated by 30° from its corners plus interior points', () => {
      const q = rotatedRect(100, 60, 80, 20, 30);
      const pts: Point[] = [...q];
      for (let i = 1; i < 10; i++) {
        for (let j = 1; j < 4; j++) {
          const u = i / 10;
          const v = j / 4;
          const top: Point = [q[0][0] + (q[1][0] - q[0][0]) * u, q[0][1] + (q[1][1] - q[0][1]) * u];
          const bot: Point = [q[3][0] + (q[2][0] - q[3][0]) * u, q[3][1] + (q[2][1] - q[3][1]) * u];
          pts.push([top[0] + (bot[0] - top[0]) * v, top[1] + (bot[1] - top[1]) * v]);
        }
      }
      const r = minAreaRect(pts);
      // float32 arithmetic, so compare to ~1e-4.
      expect(Math.max(r.width, r.height)).to.be.closeTo(80, 1e-4);
      expect(Math.min(r.width, r.height)).to.be.closeTo(20, 1e-4);
      closeTo([r.center], [[100, 60]], 1e-4);
      closeTo(r.corners, q, 1e-4);
    });

    it('recovers a rectangle rotated by -12° (counter-clockwise on screen)', () => {
      const q = rotatedRect(0, 0, 50, 8, -12);
      const r = minAreaRect([q[2], q[0], q[3], q[1]]);
      expect(Math.max(r.width, r.height)).to.be.closeTo(50, 1e-4);
      expect(Math.min(r.width, r.height)).to.be.closeTo(8, 1e-4);
      closeTo(r.corners, q, 1e-4);
    });

    it('finds the minimum area found by a brute-force search over angles, enclosing every point', () => {
      // Deterministic pseudo-random integer blob.
      let seed = 12345;
      const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
      const pts: Point[] = [];
      for (let i = 0; i < 60; i++) pts.push([Math.round(rnd() * 40 + rnd() * 20), Math.round(rnd() * 10 + rnd() * 30 * rnd())]);
      const r = minAreaRect(pts);
      let best = Infinity;
      for (let k = 0; k < 90 * 200; k++) {
        const t = (k / 200) * (Math.PI / 180);
        const c = Math.cos(t);
        const s = Math.sin(t);
        let a0 = Infinity,
          a1 = -Infinity,
          b0 = Infinity,
          b1 = -Infinity;
        for (const [x, y] of pts) {
          const a = x * c + y * s;
          const b = -x * s + y * c;
          a0 = Math.min(a0, a);
          a1 = Math.max(a1, a);
          b0 = Math.min(b0, b);
          b1 = Math.max(b1, b);
        }
        best = Math.min(best, (a1 - a0) * (b1 - b0));
      }
      const [tl, tr, , bl] = r.corners;
      const w = Math.hypot(tr[0] - tl[0], tr[1] - tl[1]);
      const h = Math.hypot(bl[0] - tl[0], bl[1] - tl[1]);
      expect(w * h).to.be.closeTo(best, best * 1e-4);
      expect(w * h).to.be.closeTo(r.width * r.height, best * 1e-5);
      const ux = (tr[0] - tl[0]) / w,
        uy = (tr[1] - tl[1]) / w;
      const vx = (bl[0] - tl[0]) / h,
        vy = (bl[1] - tl[1]) / h;
      for (const [x, y] of pts) {
        const a = (x - tl[0]) * ux + (y - tl[1]) * uy;
        const b = (x - tl[0]) * vx + (y - tl[1]) * vy;
        expect(a).to.be.within(-1e-3, w + 1e-3);
        expect(b).to.be.within(-1e-3, h + 1e-3);
      }
    });

    it('gives zero size for one point and zero height for collinear points', () => {
      const one = minAreaRect([[4, 5]]);
      expect([one.width, one.height]).to.deep.equal([0, 0]);
      expect(one.corners).to.deep.equal([
        [4, 5],
        [4, 5],
        [4, 5],
        [4, 5],
      ]);
      const line = minAreaRect([
        [0, 0],
        [3, 0],
        [10, 0],
      ]);
      expect([line.width, line.height]).to.deep.equal([10, 0]);
      expect(line.center).to.deep.equal([5, 0]);
    });

    it('rejects an empty point list', () => {
      expect(() => minAreaRect([])).to.throw(RangeError);
    });
  });
});
