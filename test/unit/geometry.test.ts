import { expect } from 'chai';
import {
  convexHull,
  minAreaRect,
  orderQuad,
  polygonArea,
  polygonPerimeter,
  quadSize,
} from '../../src/engine/geometry.js';
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

function sortPts(pts: readonly Point[]): Point[] {
  return pts.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

describe('geometry', () => {
  describe('convexHull', () => {
    it('keeps only the corners of a filled square, dropping interior and collinear points', () => {
      const pts: Point[] = [];
      for (let y = 0; y <= 4; y++) for (let x = 0; x <= 4; x++) pts.push([x, y]);
      const hull = convexHull(pts);
      expect(sortPts(hull)).to.deep.equal([
        [0, 0],
        [0, 4],
        [4, 0],
        [4, 4],
      ]);
      // Counter-clockwise in math orientation: positive shoelace sum.
      let s = 0;
      hull.forEach((a, i) => {
        const b = hull[(i + 1) % hull.length]!;
        s += a[0] * b[1] - b[0] * a[1];
      });
      expect(s).to.be.greaterThan(0);
    });

    it('handles one point, duplicates and collinear sets', () => {
      expect(convexHull([[3, 4]])).to.deep.equal([[3, 4]]);
      expect(convexHull([[3, 4], [3, 4], [3, 4]])).to.deep.equal([[3, 4]]);
      expect(sortPts(convexHull([[0, 0], [1, 1], [2, 2], [3, 3]]))).to.deep.equal([
        [0, 0],
        [3, 3],
      ]);
    });

    it('finds the hull of a triangle with points inside', () => {
      const hull = convexHull([[0, 0], [10, 0], [5, 8], [5, 2], [4, 1], [6, 3]]);
      expect(sortPts(hull)).to.deep.equal([
        [0, 0],
        [5, 8],
        [10, 0],
      ]);
    });
  });

  describe('polygonArea / polygonPerimeter', () => {
    it('measures a 3-4-5 right triangle', () => {
      const tri: Point[] = [[0, 0], [4, 0], [0, 3]];
      expect(polygonArea(tri)).to.equal(6);
      expect(polygonPerimeter(tri)).to.equal(12);
    });

    it('is orientation-independent for a rectangle', () => {
      const cw: Point[] = [[1, 1], [11, 1], [11, 6], [1, 6]];
      expect(polygonArea(cw)).to.equal(50);
      expect(polygonArea(cw.slice().reverse())).to.equal(50);
      expect(polygonPerimeter(cw)).to.equal(30);
    });
  });

  describe('orderQuad', () => {
    it('orders an axis-aligned rectangle tl, tr, br, bl whatever the input order', () => {
      const want: Quad = [[2, 3], [12, 3], [12, 8], [2, 8]];
      for (const perm of [[0, 1, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0], [1, 3, 0, 2]]) {
        expect(orderQuad(perm.map((i) => want[i]!))).to.deep.equal(want);
      }
    });

    it('orders a rectangle rotated by +20° (clockwise on screen)', () => {
      const r = rotatedRect(50, 50, 40, 10, 20);
      expect(orderQuad([r[2], r[0], r[3], r[1]])).to.deep.equal(r);
    });

    it('follows get_mini_boxes for a steep rectangle: left pair by y, right pair by y', () => {
      // 60° turn: the two leftmost corners are the original bl and tl.
      const r = rotatedRect(0, 0, 40, 10, 60);
      const xs = r.map((p) => p[0]);
      const byX = r.slice().sort((a, b) => a[0] - b[0]);
      const [a, b, c, d] = byX as [Point, Point, Point, Point];
      const tl = b[1] > a[1] ? a : b;
      const bl = b[1] > a[1] ? b : a;
      const tr = d[1] > c[1] ? c : d;
      const br = d[1] > c[1] ? d : c;
      expect(xs).to.have.length(4);
      expect(orderQuad(r)).to.deep.equal([tl, tr, br, bl]);
      // Hand check: the leftmost corner is the original bl (-5.9, 19.8) and the upper-left pair
      // member is the original tl (-14.8, 14.8), so get_mini_boxes relabels the quad.
      expect(orderQuad(r)[0]).to.deep.equal(r[0]);
      expect(orderQuad(r)[3]).to.deep.equal(r[3]);
    });

    it('on equal y takes the later point of a pair as the upper one, like PaddleOCR', () => {
      // Degenerate but deterministic: all four on one horizontal line.
      const q = orderQuad([[0, 5], [1, 5], [2, 5], [3, 5]]);
      expect(q).to.deep.equal([[1, 5], [3, 5], [2, 5], [0, 5]]);
    });

    it('rejects anything but four points', () => {
      expect(() => orderQuad([[0, 0], [1, 1], [2, 2]])).to.throw(RangeError);
    });
  });

  describe('quadSize', () => {
    it('takes the longer of each pair of opposite sides', () => {
      // Trapezoid: top 10, bottom 6; left side 3-4-5 → 5, right side 4.
      const q: Quad = [[0, 0], [10, 0], [8, 4], [3, 4]];
      const s = quadSize(q);
      expect(s.width).to.equal(10);
      expect(s.height).to.equal(5);
    });
  });

  describe('minAreaRect', () => {
    it('fits pixel indices of a filled 10×5 block as a 9×4 rectangle (OpenCV convention)', () => {
      const pts: Point[] = [];
      for (let y = 0; y < 5; y++) for (let x = 0; x < 10; x++) pts.push([x + 7, y + 3]);
      const r = minAreaRect(pts);
      expect(r.width).to.be.closeTo(9, 1e-9);
      expect(r.height).to.be.closeTo(4, 1e-9);
      expect(r.angle).to.be.closeTo(0, 1e-9);
      closeTo([r.center], [[11.5, 5]]);
      closeTo(r.corners, [[7, 3], [16, 3], [16, 7], [7, 7]]);
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
      expect(r.width).to.be.closeTo(80, 1e-9);
      expect(r.height).to.be.closeTo(20, 1e-9);
      expect(r.angle).to.be.closeTo(30, 1e-9);
      closeTo([r.center], [[100, 60]]);
      closeTo(r.corners, q);
    });

    it('recovers a rectangle rotated by -12° (counter-clockwise on screen)', () => {
      const q = rotatedRect(0, 0, 50, 8, -12);
      const r = minAreaRect([q[2], q[0], q[3], q[1]]);
      expect(r.width).to.be.closeTo(50, 1e-9);
      expect(r.height).to.be.closeTo(8, 1e-9);
      expect(r.angle).to.be.closeTo(-12, 1e-9);
      closeTo(r.corners, q);
    });

    it('matches a brute-force search over angles on an irregular point set', () => {
      // Deterministic pseudo-random blob.
      let seed = 12345;
      const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
      const pts: Point[] = [];
      for (let i = 0; i < 60; i++) pts.push([rnd() * 40 + rnd() * 20, rnd() * 10 + rnd() * 30 * rnd()]);
      const r = minAreaRect(pts);
      let best = Infinity;
      for (let k = 0; k < 90 * 200; k++) {
        const t = (k / 200) * (Math.PI / 180);
        const c = Math.cos(t);
        const s = Math.sin(t);
        let a0 = Infinity, a1 = -Infinity, b0 = Infinity, b1 = -Infinity;
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
      const area = r.width * r.height;
      expect(area).to.be.at.most(best + 1e-9);
      expect(area).to.be.closeTo(best, best * 1e-4);
      // Every point lies inside the rectangle.
      const [tl, tr, , bl] = r.corners;
      const ux = (tr[0] - tl[0]) / r.width, uy = (tr[1] - tl[1]) / r.width;
      const vx = (bl[0] - tl[0]) / r.height, vy = (bl[1] - tl[1]) / r.height;
      for (const [x, y] of pts) {
        const a = (x - tl[0]) * ux + (y - tl[1]) * uy;
        const b = (x - tl[0]) * vx + (y - tl[1]) * vy;
        expect(a).to.be.within(-1e-9, r.width + 1e-9);
        expect(b).to.be.within(-1e-9, r.height + 1e-9);
      }
    });

    it('gives zero size for one point and zero height for collinear points', () => {
      const one = minAreaRect([[4, 5]]);
      expect(one.width).to.equal(0);
      expect(one.height).to.equal(0);
      const line = minAreaRect([[0, 0], [3, 0], [10, 0]]);
      expect(line.width).to.equal(10);
      expect(line.height).to.equal(0);
    });
  });
});
