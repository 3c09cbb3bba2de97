/**
 * Small pure 2-D geometry helpers used by detection post-processing and cropping. Coordinates are
 * image coordinates (x right, y down); nothing here allocates typed arrays or touches pixels.
 */

import type { Point, Quad } from './types.js';

/** A minimum-area enclosing rectangle. */
export interface RotatedRect {
  center: Point;
  /** Length of the tl→tr side of `corners`. */
  width: number;
  /** Length of the tl→bl side of `corners`. */
  height: number;
  /** Direction of the tl→tr side in degrees, atan2(dy, dx) with y down (positive = clockwise on screen). */
  angle: number;
  /** The rectangle's corners ordered like PaddleOCR's get_mini_boxes (see orderQuad). */
  corners: Quad;
}

function cross(o: Point, a: Point, b: Point): number {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

/**
 * Convex hull by Andrew's monotone chain. Returns the hull vertices without collinear points and
 * without repeating the first point, counter-clockwise in math orientation (clockwise on screen).
 * Fewer than 3 distinct points come back as the distinct points themselves.
 */
export function convexHull(points: readonly Point[]): Point[] {
  const pts = points.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  // Drop exact duplicates so degenerate inputs (one or two distinct points) come back clean.
  const uniq: Point[] = [];
  for (const p of pts) {
    const last = uniq[uniq.length - 1];
    if (last === undefined || last[0] !== p[0] || last[1] !== p[1]) uniq.push(p);
  }
  if (uniq.length < 3) return uniq.map((p) => [p[0], p[1]] as Point);

  const lower: Point[] = [];
  for (const p of uniq) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: Point[] = [];
  for (let i = uniq.length - 1; i >= 0; i--) {
    const p = uniq[i]!;
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, p) <= 0) upper.pop();
    upper.push(p);
  }
  lower.pop();
  upper.pop();
  return lower.concat(upper).map((p) => [p[0], p[1]] as Point);
}

/** Absolute area of a simple polygon (shoelace), as shapely's Polygon.area. */
export function polygonArea(poly: readonly Point[]): number {
  let s = 0;
  for (let i = 0, n = poly.length; i < n; i++) {
    const a = poly[i]!;
    const b = poly[(i + 1) % n]!;
    s += a[0] * b[1] - b[0] * a[1];
  }
  return Math.abs(s) / 2;
}

/** Perimeter of the closed polygon, as shapely's Polygon.length. */
export function polygonPerimeter(poly: readonly Point[]): number {
  let s = 0;
  for (let i = 0, n = poly.length; i < n; i++) {
    const a = poly[i]!;
    const b = poly[(i + 1) % n]!;
    s += Math.hypot(b[0] - a[0], b[1] - a[1]);
  }
  return s;
}

/**
 * Orders four points exactly like PaddleOCR's DBPostProcess.get_mini_boxes: stable sort by x; of
 * the two leftmost the upper is tl and the other bl, of the two rightmost the upper is tr and the
 * other br. On equal y the later of the pair counts as upper, as PaddleOCR's strict `>` does.
 */
export function orderQuad(points: readonly Point[]): Quad {
  if (points.length !== 4) throw new RangeError(`orderQuad needs 4 points, got ${points.length}`);
  // Array.prototype.sort is stable, matching Python's sorted().
  const p = points.map((q) => [q[0], q[1]] as Point).sort((a, b) => a[0] - b[0]);
  const [p0, p1, p2, p3] = p as [Point, Point, Point, Point];
  let tl: Point;
  let bl: Point;
  if (p1[1] > p0[1]) {
    tl = p0;
    bl = p1;
  } else {
    tl = p1;
    bl = p0;
  }
  let tr: Point;
  let br: Point;
  if (p3[1] > p2[1]) {
    tr = p2;
    br = p3;
  } else {
    tr = p3;
    br = p2;
  }
  return [tl, tr, br, bl];
}

/** Side lengths as PaddleOCR's get_rotate_crop_image measures them (before its int() truncation). */
export function quadSize(quad: Quad): { width: number; height: number } {
  const d = (a: Point, b: Point): number => Math.hypot(a[0] - b[0], a[1] - b[1]);
  return {
    width: Math.max(d(quad[0], quad[1]), d(quad[2], quad[3])),
    height: Math.max(d(quad[0], quad[3]), d(quad[1], quad[2])),
  };
}

function rectFromCorners(c: Point[]): RotatedRect {
  const corners = orderQuad(c);
  const [tl, tr, , bl] = corners;
  let cx = 0;
  let cy = 0;
  for (const p of corners) {
    cx += p[0] / 4;
    cy += p[1] / 4;
  }
  return {
    center: [cx, cy],
    width: Math.hypot(tr[0] - tl[0], tr[1] - tl[1]),
    height: Math.hypot(bl[0] - tl[0], bl[1] - tl[1]),
    angle: (Math.atan2(tr[1] - tl[1], tr[0] - tl[0]) * 180) / Math.PI,
    corners,
  };
}

/**
 * Minimum-area enclosing rectangle (cv2.minAreaRect) by rotating calipers over the convex hull:
 * the optimal rectangle has one side on a hull edge, and the three other supporting points advance
 * monotonically as the edge rotates, so the whole sweep is linear in the hull size.
 * One point gives a zero-size rect; collinear points give a zero-height one.
 */
export function minAreaRect(points: readonly Point[]): RotatedRect {
  if (points.length === 0) throw new RangeError('minAreaRect of no points');
  const h = convexHull(points);
  const n = h.length;
  if (n === 1) {
    const p = h[0]!;
    return rectFromCorners([p, p, p, p]);
  }
  if (n === 2) {
    const [a, b] = h as [Point, Point];
    return rectFromCorners([a, b, b, a]);
  }

  const dot = (i: number, ex: number, ey: number): number => h[i % n]![0] * ex + h[i % n]![1] * ey;
  let bestArea = Infinity;
  let best: Point[] = [];
  // Caliper indices: farthest along the edge (right), farthest from it (top), least along it (left).
  let right = 1;
  let top = 1;
  let left = 1;
  for (let i = 0; i < n; i++) {
    const a = h[i]!;
    const b = h[(i + 1) % n]!;
    const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
    const ex = (b[0] - a[0]) / len;
    const ey = (b[1] - a[1]) / len;
    // Hull is counter-clockwise (math orientation), so the inward normal is the edge turned left.
    const nx = -ey;
    const ny = ex;
    if (i === 0) {
      right = i + 1;
      while (dot(right + 1, ex, ey) > dot(right, ex, ey)) right++;
      top = right;
      while (dot(top + 1, nx, ny) > dot(top, nx, ny)) top++;
      left = top;
      while (dot(left + 1, ex, ey) < dot(left, ex, ey)) left++;
    } else {
      if (right < i + 1) right = i + 1;
      while (right - i < n && dot(right + 1, ex, ey) > dot(right, ex, ey)) right++;
      if (top < right) top = right;
      while (top - i < n && dot(top + 1, nx, ny) > dot(top, nx, ny)) top++;
      if (left < top) left = top;
      while (left - i < n && dot(left + 1, ex, ey) < dot(left, ex, ey)) left++;
    }
    const a0 = a[0] * ex + a[1] * ey;
    const maxE = dot(right, ex, ey) - a0;
    const minE = dot(left, ex, ey) - a0;
    const maxN = dot(top, nx, ny) - (a[0] * nx + a[1] * ny);
    const area = (maxE - minE) * maxN;
    if (area < bestArea) {
      bestArea = area;
      best = [
        [a[0] + ex * minE, a[1] + ey * minE],
        [a[0] + ex * maxE, a[1] + ey * maxE],
        [a[0] + ex * maxE + nx * maxN, a[1] + ey * maxE + ny * maxN],
        [a[0] + ex * minE + nx * maxN, a[1] + ey * minE + ny * maxN],
      ];
    }
  }
  return rectFromCorners(best);
}
