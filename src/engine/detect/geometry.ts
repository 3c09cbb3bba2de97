/**
 * Small pure 2-D geometry helpers used by detection post-processing and cropping. Coordinates are
 * image coordinates (x right, y down). minAreaRect follows OpenCV's float32 arithmetic exactly,
 * because PaddleOCR's box pipeline truncates its output to integers.
 */

import type { Point, Quad } from '../types.js';

export { quadSize } from '../../shared/quad.js';

/** The quad of a whole w×h image: a line image read as it is. */
export const wholeImageQuad = (w: number, h: number): Quad => [
  [0, 0],
  [w, 0],
  [w, h],
  [0, h],
];

/**
 * A minimum-area enclosing rectangle with cv2.minAreaRect's fields and conventions: `width` is the
 * side along `angle` (degrees, y down), `height` the other; which side is which follows OpenCV's
 * calipers, so callers wanting the short side use Math.min(width, height), as PaddleOCR does.
 */
export interface RotatedRect {
  center: Point;
  width: number;
  height: number;
  angle: number;
  /** cv2.boxPoints of the rectangle, ordered like PaddleOCR's get_mini_boxes (see orderQuad). */
  corners: Quad;
}

/**
 * Absolute area of a simple polygon, as shapely's Polygon.area: GEOS's shoelace variant relative
 * to the first x, summed in the same order so the result matches to the last bit.
 */
export function polygonArea(poly: readonly Point[]): number {
  const n = poly.length;
  if (n < 3) return 0;
  const x0 = poly[0]![0];
  let sum = 0;
  // Closed ring p0..p(n-1), p0: sum over interior ring points of (x_i - x0) * (y_{i-1} - y_{i+1}).
  for (let i = 1; i < n; i++) {
    const prevY = poly[i - 1]![1];
    const nextY = poly[(i + 1) % n]![1];
    sum += (poly[i]![0] - x0) * (prevY - nextY);
  }
  return Math.abs(sum / 2);
}

/** Perimeter of the closed polygon, as shapely's Polygon.length (GEOS's summation order). */
export function polygonPerimeter(poly: readonly Point[]): number {
  let s = 0;
  for (let i = 0, n = poly.length; i < n; i++) {
    const a = poly[i]!;
    const b = poly[(i + 1) % n]!;
    const dx = b[0] - a[0];
    const dy = b[1] - a[1];
    s += Math.sqrt(dx * dx + dy * dy);
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

const f32 = Math.fround;

/**
 * The hull as OpenCV's convexHull(points, clockwise=false) returns it: positive orientation in image
 * coordinates (right, down, left, up), no collinear points, and cyclically shifted so the input
 * indices of its vertices ascend or descend from the start, as OpenCV's final shift does. The start
 * matters: OpenCV's calipers break area ties by visiting order, which moves corners by float32 ulps,
 * and PaddleOCR truncates those corners to integers.
 */
function cvHull(points: readonly Point[]): Point[] {
  const n = points.length;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xs[i] = f32(points[i]![0]);
    ys[i] = f32(points[i]![1]);
  }
  // OpenCV sorts by x, y, then address (input index).
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => xs[a]! - xs[b]! || ys[a]! - ys[b]! || a - b);
  // Duplicates collapse to their lowest input index. (Which copy OpenCV keeps differs between its
  // versions; it only moves the hull's start, and the detector never passes duplicates.)
  const uniq: number[] = [];
  for (const i of order) {
    const last = uniq[uniq.length - 1];
    if (last === undefined || xs[last] !== xs[i] || ys[last] !== ys[i]) uniq.push(i);
  }
  const toPoints = (idx: number[]): Point[] => idx.map((i) => [xs[i]!, ys[i]!] as Point);
  // Two points come back as OpenCV orders them: the lexicographically larger first.
  if (uniq.length < 3) return toPoints(uniq.reverse());

  const turn = (o: number, a: number, b: number): number => (xs[a]! - xs[o]!) * (ys[b]! - ys[o]!) - (ys[a]! - ys[o]!) * (xs[b]! - xs[o]!);
  // Monotone chain, positive orientation (right, down, left, up on screen) as OpenCV's
  // clockwise=false hull; collinear points dropped as Sklansky's strict test drops them.
  const lower: number[] = [];
  for (const i of uniq) {
    while (lower.length >= 2 && turn(lower[lower.length - 2]!, lower[lower.length - 1]!, i) <= 0) lower.pop();
    lower.push(i);
  }
  const upper: number[] = [];
  for (let k = uniq.length - 1; k >= 0; k--) {
    const i = uniq[k]!;
    while (upper.length >= 2 && turn(upper[upper.length - 2]!, upper[upper.length - 1]!, i) <= 0) upper.pop();
    upper.push(i);
  }
  lower.pop();
  upper.pop();
  // OpenCV's unshifted output starts at the lexicographically largest point.
  let hull = upper.concat(lower);
  if (hull.length < 3) return toPoints(hull);

  // OpenCV's cyclic shift towards an ascending or descending index sequence, ported verbatim.
  const nout = hull.length;
  let minIdx = 0;
  let maxIdx = 0;
  let lt = 0;
  for (let i = 1; i < nout; i++) {
    const idx = hull[i]!;
    lt += hull[i - 1]! < idx ? 1 : 0;
    if (lt > 1 && lt <= i - 2) break;
    if (idx < hull[minIdx]!) minIdx = i;
    if (idx > hull[maxIdx]!) maxIdx = i;
  }
  const mmdist = Math.abs(maxIdx - minIdx);
  if ((mmdist === 1 || mmdist === nout - 1) && (lt <= 1 || lt >= nout - 2)) {
    const ascending = (maxIdx + 1) % nout === minIdx;
    const i0 = ascending ? minIdx : maxIdx;
    if (i0 > 0) {
      const shifted: number[] = [];
      let j = i0;
      let i = 0;
      for (; i < nout; i++) {
        const cur = hull[j]!;
        shifted.push(cur);
        const nj = j + 1 < nout ? j + 1 : 0;
        if (i < nout - 1 && ascending !== cur < hull[nj]!) break;
        j = nj;
      }
      if (i === nout) hull = shifted;
    }
  }
  return toPoints(hull);
}

/**
 * OpenCV's rotatingCalipers(CALIPERS_MINAREARECT) in float32 arithmetic, operation for operation.
 * Returns the corner point and the two side vectors [px, py, v1x, v1y, v2x, v2y].
 */
function rotatingCalipers(hx: Float32Array, hy: Float32Array): number[] {
  const n = hx.length;
  const vx = new Float32Array(n);
  const vy = new Float32Array(n);
  const inv = new Float32Array(n);
  let left = 0,
    bottom = 0,
    right = 0,
    top = 0;
  let leftX = hx[0]!,
    rightX = hx[0]!,
    topY = hy[0]!,
    bottomY = hy[0]!;
  for (let i = 0; i < n; i++) {
    const x0 = hx[i]!,
      y0 = hy[i]!;
    if (x0 < leftX) {
      leftX = x0;
      left = i;
    }
    if (x0 > rightX) {
      rightX = x0;
      right = i;
    }
    if (y0 > topY) {
      topY = y0;
      top = i;
    }
    if (y0 < bottomY) {
      bottomY = y0;
      bottom = i;
    }
    const j = i + 1 < n ? i + 1 : 0;
    const dx = f32(hx[j]! - x0);
    const dy = f32(hy[j]! - y0);
    vx[i] = dx;
    vy[i] = dy;
    inv[i] = 1 / Math.sqrt(dx * dx + dy * dy);
  }
  let baseA: number;
  let baseB: number;
  const seq = [bottom, right, top, left];
  let minArea = 3.4028234663852886e38;
  let bufLeft = 0,
    bufA = 0,
    bufW = 0,
    bufB = 0,
    bufH = 0,
    bufBottom = 0;
  for (let k = 0; k < n; k++) {
    // Pick the caliper whose edge turns least: compare the edge vectors rotated into the first
    // caliper's frame by the sign of a float32 cross product (OpenCV 4.5.1+, firstVecIsRight).
    const s0 = seq[0]!,
      s1 = seq[1]!,
      s2 = seq[2]!,
      s3 = seq[3]!;
    const rx = [vx[s0]!, vy[s1]!, -vx[s2]!, -vy[s3]!];
    const ry = [vy[s0]!, -vx[s1]!, -vy[s2]!, vx[s3]!];
    let main = 0;
    for (let i = 1; i < 4; i++) {
      // rotate90CW(r_i) · r_main < 0
      if (f32(f32(ry[i]! * rx[main]!) + f32(-rx[i]! * ry[main]!)) < 0) main = i;
    }

    const p = seq[main]!;
    const leadX = f32(vx[p]! * inv[p]!);
    const leadY = f32(vy[p]! * inv[p]!);
    switch (main) {
      case 0:
        baseA = leadX;
        baseB = leadY;
        break;
      case 1:
        baseA = leadY;
        baseB = -leadX;
        break;
      case 2:
        baseA = -leadX;
        baseB = -leadY;
        break;
      default:
        baseA = -leadY;
        baseB = leadX;
        break;
    }
    seq[main] = p + 1 === n ? 0 : p + 1;

    let dx = f32(hx[seq[1]!]! - hx[seq[3]!]!);
    let dy = f32(hy[seq[1]!]! - hy[seq[3]!]!);
    const width = f32(f32(dx * baseA) + f32(dy * baseB));
    dx = f32(hx[seq[2]!]! - hx[seq[0]!]!);
    dy = f32(hy[seq[2]!]! - hy[seq[0]!]!);
    const height = f32(f32(-dx * baseB) + f32(dy * baseA));
    const area = f32(width * height);
    // `<=`: the last of equal areas wins, as in OpenCV.
    if (area <= minArea) {
      minArea = area;
      bufLeft = seq[3]!;
      bufA = baseA;
      bufW = width;
      bufB = baseB;
      bufH = height;
      bufBottom = seq[0]!;
    }
  }
  const A1 = bufA,
    B1 = bufB,
    A2 = -bufB,
    B2 = bufA;
  const C1 = f32(f32(A1 * hx[bufLeft]!) + f32(hy[bufLeft]! * B1));
  const C2 = f32(f32(A2 * hx[bufBottom]!) + f32(hy[bufBottom]! * B2));
  const idet = f32(1 / f32(f32(A1 * B2) - f32(A2 * B1)));
  const px = f32(f32(f32(C1 * B2) - f32(C2 * B1)) * idet);
  const py = f32(f32(f32(A1 * C2) - f32(A2 * C1)) * idet);
  return [px, py, f32(A1 * bufW), f32(B1 * bufW), f32(A2 * bufH), f32(B2 * bufH)];
}

/** cv::RotatedRect::points (what cv2.boxPoints returns), in float32. */
function boxPoints(cx: number, cy: number, w: number, h: number, angleDeg: number): Point[] {
  const t = (angleDeg * Math.PI) / 180;
  const b = f32(f32(Math.cos(t)) * 0.5);
  const a = f32(f32(Math.sin(t)) * 0.5);
  const p0x = f32(f32(cx - f32(a * h)) - f32(b * w));
  const p0y = f32(f32(cy + f32(b * h)) - f32(a * w));
  const p1x = f32(f32(cx + f32(a * h)) - f32(b * w));
  const p1y = f32(f32(cy - f32(b * h)) - f32(a * w));
  return [
    [p0x, p0y],
    [p1x, p1y],
    [f32(f32(2 * cx) - p0x), f32(f32(2 * cy) - p0y)],
    [f32(f32(2 * cx) - p1x), f32(f32(2 * cy) - p1y)],
  ];
}

/**
 * Minimum-area enclosing rectangle: a float32-faithful port of cv2.minAreaRect (OpenCV 4.x:
 * convex hull, then rotating calipers over it) followed by cv2.boxPoints and get_mini_boxes
 * ordering, so the corners match PaddleOCR's to the float32 ulp. That matters because PaddleOCR
 * truncates these corners to integers before unclipping: a corner at 68.99999 becomes 68, not 69.
 * One point gives a zero-size rect; collinear points give a zero-height one.
 */
export function minAreaRect(points: readonly Point[]): RotatedRect {
  if (points.length === 0) throw new RangeError('minAreaRect of no points');
  const hull = cvHull(points);
  const n = hull.length;
  let cx: number, cy: number, w: number, h: number, angle: number;
  if (n > 2) {
    const hx = Float32Array.from(hull, (p) => p[0]);
    const hy = Float32Array.from(hull, (p) => p[1]);
    const [px, py, v1x, v1y, v2x, v2y] = rotatingCalipers(hx, hy) as [number, number, number, number, number, number];
    cx = f32(px + f32(f32(v1x + v2x) * 0.5));
    cy = f32(py + f32(f32(v1y + v2y) * 0.5));
    w = f32(Math.sqrt(v1x * v1x + v1y * v1y));
    h = f32(Math.sqrt(v2x * v2x + v2y * v2y));
    angle = f32(Math.atan2(v1y, v1x));
  } else if (n === 2) {
    const [a, b] = hull as [Point, Point];
    cx = f32(f32(a[0] + b[0]) * 0.5);
    cy = f32(f32(a[1] + b[1]) * 0.5);
    const dx = f32(b[0] - a[0]);
    const dy = f32(b[1] - a[1]);
    w = f32(Math.sqrt(dx * dx + dy * dy));
    h = 0;
    angle = f32(Math.atan2(dy, dx));
  } else {
    [cx, cy] = hull[0]!;
    w = 0;
    h = 0;
    angle = 0;
  }
  // C promotion: float * int stays float, then the division by CV_PI is in double.
  angle = f32(f32(angle * 180) / Math.PI);
  return { center: [cx, cy], width: w, height: h, angle, corners: orderQuad(boxPoints(cx, cy, w, h, angle)) };
}
