/**
 * Polygon rasterization that sets exactly the pixels cv2.fillPoly(mask, [poly], 1) sets (LINE_8,
 * shift 0): the outline drawn with OpenCV's 8-connected Bresenham line iterator plus the interior
 * filled by its 16.16 fixed-point edge scanner. DB's box score averages over this mask, so matching
 * it pixel for pixel keeps scores (and the boxThresh decisions) identical to PaddleOCR's.
 */

import type { Point } from '../types.js';

const XY_SHIFT = 16;
const XY_ONE = 1 << XY_SHIFT;

/** Integer division truncating toward zero, as C's int64 `/`. */
function idiv(a: number, b: number): number {
  return Math.trunc(a / b);
}

/**
 * OpenCV's clipLine on an image of size w×h: clips the segment to the image in place and says
 * whether anything is left. Int64 arithmetic with double-precision intercepts, as in OpenCV.
 */
function clipLine(w: number, h: number, p: [number, number, number, number]): boolean {
  if (w <= 0 || h <= 0) return false;
  const right = w - 1;
  const bottom = h - 1;
  let [x1, y1, x2, y2] = p;
  let c1 = (x1 < 0 ? 1 : 0) + (x1 > right ? 2 : 0) + (y1 < 0 ? 4 : 0) + (y1 > bottom ? 8 : 0);
  let c2 = (x2 < 0 ? 1 : 0) + (x2 > right ? 2 : 0) + (y2 < 0 ? 4 : 0) + (y2 > bottom ? 8 : 0);
  if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
    let a: number;
    if (c1 & 12) {
      a = c1 < 8 ? 0 : bottom;
      x1 += Math.trunc(((a - y1) * (x2 - x1)) / (y2 - y1));
      y1 = a;
      c1 = (x1 < 0 ? 1 : 0) + (x1 > right ? 2 : 0);
    }
    if (c2 & 12) {
      a = c2 < 8 ? 0 : bottom;
      x2 += Math.trunc(((a - y2) * (x2 - x1)) / (y2 - y1));
      y2 = a;
      c2 = (x2 < 0 ? 1 : 0) + (x2 > right ? 2 : 0);
    }
    if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
      if (c1) {
        a = c1 === 1 ? 0 : right;
        y1 += Math.trunc(((a - x1) * (y2 - y1)) / (x2 - x1));
        x1 = a;
        c1 = 0;
      }
      if (c2) {
        a = c2 === 1 ? 0 : right;
        y2 += Math.trunc(((a - x2) * (y2 - y1)) / (x2 - x1));
        x2 = a;
        c2 = 0;
      }
    }
  }
  p[0] = x1;
  p[1] = y1;
  p[2] = x2;
  p[3] = y2;
  return (c1 | c2) === 0;
}

/** OpenCV's Line() with an 8-connected, left-to-right LineIterator. */
function drawLine(mask: Uint8Array, w: number, h: number, ax: number, ay: number, bx: number, by: number): void {
  const p: [number, number, number, number] = [ax, ay, bx, by];
  if (ax < 0 || ax >= w || bx < 0 || bx >= w || ay < 0 || ay >= h || by < 0 || by >= h) {
    if (!clipLine(w, h, p)) return;
  }
  let [x, y] = p;
  const [, , x2, y2] = p;
  let dx = x2 - x;
  let dy = y2 - y;
  if (dx < 0) {
    // Left to right: start from the other end.
    dx = -dx;
    dy = -dy;
    x = x2;
    y = y2;
  }
  const sy = dy < 0 ? -1 : 1;
  dy = Math.abs(dy);
  const steep = dy > dx;
  const major = steep ? dy : dx;
  const minor = steep ? dx : dy;
  // Major-axis step every iteration, minor-axis step when the error goes negative.
  const majX = steep ? 0 : 1,
    majY = steep ? sy : 0;
  const minX = steep ? 1 : 0,
    minY = steep ? 0 : sy;
  let err = major - 2 * minor;
  for (let i = 0; i <= major; i++) {
    mask[y * w + x] = 1;
    if (err < 0) {
      err += 2 * major - 2 * minor;
      x += majX + minX;
      y += majY + minY;
    } else {
      err -= 2 * minor;
      x += majX;
      y += majY;
    }
  }
}

interface Edge {
  y0: number;
  y1: number;
  /** 16.16 fixed point x at row y0. */
  x: number;
  dx: number;
}

/**
 * Sets to 1 the pixels of `mask` (w×h, row-major) that cv2.fillPoly(mask, [poly], 1) would set.
 * `poly` must have integer coordinates; they may lie outside the mask.
 */
export function fillPoly(mask: Uint8Array, w: number, h: number, poly: readonly Point[]): void {
  const n = poly.length;
  if (n === 0) return;
  const edges: Edge[] = [];
  let prev = poly[n - 1]!;
  for (let i = 0; i < n; i++) {
    const cur = poly[i]!;
    drawLine(mask, w, h, prev[0], prev[1], cur[0], cur[1]);
    if (prev[1] !== cur[1]) {
      const x0 = prev[0] * XY_ONE;
      const x1 = cur[0] * XY_ONE;
      const dx = idiv(x1 - x0, cur[1] - prev[1]);
      edges.push(prev[1] < cur[1] ? { y0: prev[1], y1: cur[1], x: x0, dx } : { y0: cur[1], y1: prev[1], x: x1, dx });
    }
    prev = cur;
  }
  if (edges.length < 2) return;

  let yMin = Infinity;
  let yMax = -Infinity;
  let xMin = Infinity;
  let xMax = -Infinity;
  for (const e of edges) {
    const xEnd = e.x + (e.y1 - e.y0) * e.dx;
    yMin = Math.min(yMin, e.y0);
    yMax = Math.max(yMax, e.y1);
    xMin = Math.min(xMin, e.x, xEnd);
    xMax = Math.max(xMax, e.x, xEnd);
  }
  if (yMax < 0 || yMin >= h || xMax < 0 || xMin >= w * XY_ONE) return;
  yMax = Math.min(yMax, h);

  // An edge is active on rows [y0, y1); on each row active edges pair up left to right in x order.
  const active: number[] = [];
  for (let y = yMin; y < yMax; y++) {
    active.length = 0;
    for (let k = 0; k < edges.length; k++) {
      const e = edges[k]!;
      if (e.y0 <= y && y < e.y1) active.push(e.x + (y - e.y0) * e.dx);
    }
    if (y < 0) continue;
    active.sort((a, b) => a - b);
    const row = y * w;
    for (let k = 0; k + 1 < active.length; k += 2) {
      let x1 = Math.floor((active[k]! + XY_ONE - 1) / XY_ONE);
      let x2 = Math.floor(active[k + 1]! / XY_ONE);
      if (x1 < w && x2 >= 0) {
        if (x1 < 0) x1 = 0;
        if (x2 >= w) x2 = w - 1;
        for (let x = x1; x <= x2; x++) mask[row + x] = 1;
      }
    }
  }
}
