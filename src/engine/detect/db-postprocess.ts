/**
 * DB (Differentiable Binarization) post-processing: probability map → text quads. A port of
 * PaddleOCR's DBPostProcess.boxes_from_bitmap with score_mode "fast" and box_type "quad", without
 * OpenCV, that reproduces its quads bit for bit (float32 corners included) and its scores to the
 * last double ulp. Quads are in probability-map pixel coordinates (pixel (x, y) is the point
 * (x, y), as OpenCV's contours report it); the caller rescales, rounds and clips.
 *
 * Deliberate difference: PaddleOCR asks findContours for RETR_LIST, so a region with a hole also
 * yields a box from the hole's border, nested inside the region's own box; that duplicate is not
 * produced here.
 */

import { fillPoly } from './fill-poly.js';
import { minAreaRect } from './geometry.js';
import type { DetectedBox, Point, ProbMap, Quad } from '../types.js';
import { unclip } from './unclip.js';

export interface DbParams {
  /** Binarization threshold on the probability map (strict >). */
  thresh: number;
  /** Minimum mean probability inside a box to keep it. */
  boxThresh: number;
  /** How far boxes are grown back out: distance = area * ratio / perimeter. */
  unclipRatio: number;
  /** At most this many connected regions are considered (largest first). */
  maxCandidates: number;
  /** Boxes whose short side is below this are dropped (below minSize + 2 after unclipping). */
  minSize: number;
}

/** One 8-connected foreground region, reduced to what its convex hull needs. */
interface Region {
  size: number;
  /**
   * Each row's leftmost pixel top to bottom, then each row's rightmost bottom to top: the same
   * hull as the region's contour, with its vertices in the contour's order.
   */
  points: Point[];
}

/**
 * 8-connected regions of map > thresh, in raster order of their first pixel, by BFS over a padded
 * byte mask. OpenCV's findContours follows 8-connected outer borders too, and a contour's convex
 * hull is the hull of its region's row extremes, so no contour tracing is needed.
 */
function findRegions(map: ProbMap, thresh: number): Region[] {
  const { data, width: w, height: h } = map;
  // One-pixel zero border so neighbour lookups need no bounds checks.
  const pw = w + 2;
  const mask = new Uint8Array(pw * (h + 2));
  for (let y = 0; y < h; y++) {
    const src = y * w;
    const dst = (y + 1) * pw + 1;
    for (let x = 0; x < w; x++) if (data[src + x]! > thresh) mask[dst + x] = 1;
  }

  const queue = new Int32Array(w * h);
  const rowMin = new Int32Array(h + 2).fill(0x7fffffff);
  const rowMax = new Int32Array(h + 2).fill(-1);
  const n0 = -pw - 1,
    n1 = -pw,
    n2 = -pw + 1,
    n3 = -1,
    n4 = 1,
    n5 = pw - 1,
    n6 = pw,
    n7 = pw + 1;
  const regions: Region[] = [];

  for (let start = pw + 1, end = pw * (h + 1) - 1; start < end; start++) {
    if (mask[start] !== 1) continue;
    // BFS; mask value 2 marks "queued" so each pixel is enqueued once.
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    mask[start] = 2;
    let yLo = h + 1;
    let yHi = 0;
    while (head < tail) {
      const i = queue[head++]!;
      const y = (i / pw) | 0;
      const x = i - y * pw;
      if (x < rowMin[y]!) rowMin[y] = x;
      if (x > rowMax[y]!) rowMax[y] = x;
      if (y < yLo) yLo = y;
      if (y > yHi) yHi = y;
      let j: number;
      if (mask[(j = i + n0)] === 1) {
        mask[j] = 2;
        queue[tail++] = j;
      }
      if (mask[(j = i + n1)] === 1) {
        mask[j] = 2;
        queue[tail++] = j;
      }
      if (mask[(j = i + n2)] === 1) {
        mask[j] = 2;
        queue[tail++] = j;
      }
      if (mask[(j = i + n3)] === 1) {
        mask[j] = 2;
        queue[tail++] = j;
      }
      if (mask[(j = i + n4)] === 1) {
        mask[j] = 2;
        queue[tail++] = j;
      }
      if (mask[(j = i + n5)] === 1) {
        mask[j] = 2;
        queue[tail++] = j;
      }
      if (mask[(j = i + n6)] === 1) {
        mask[j] = 2;
        queue[tail++] = j;
      }
      if (mask[(j = i + n7)] === 1) {
        mask[j] = 2;
        queue[tail++] = j;
      }
    }
    // Walk the boundary the way findContours does (down the left side, up the right) starting at
    // the top row's leftmost pixel: minAreaRect's result depends on the hull's starting vertex,
    // which OpenCV derives from the contour's point order.
    const points: Point[] = [];
    const rights: Point[] = [];
    for (let y = yLo; y <= yHi; y++) {
      const lo = rowMin[y]!;
      const hi = rowMax[y]!;
      if (hi < 0) continue;
      // Back to unpadded map coordinates.
      points.push([lo - 1, y - 1]);
      if (hi !== lo) rights.push([hi - 1, y - 1]);
      rowMin[y] = 0x7fffffff;
      rowMax[y] = -1;
    }
    for (let k = rights.length - 1; k >= 0; k--) points.push(rights[k]!);
    regions.push({ size: tail, points });
  }
  return regions;
}

/**
 * PaddleOCR's box_score_fast: the mean of the map over the quad as cv2.fillPoly rasterizes it, within
 * the quad's bounding box clipped to the map. Like PaddleOCR, the float32 corners are shifted to the
 * box origin and truncated to integers before filling.
 */
export function boxScoreFast(map: ProbMap, quad: readonly Point[]): number {
  const { data, width: w, height: h } = map;
  let minX = Infinity,
    maxX = -Infinity,
    minY = Infinity,
    maxY = -Infinity;
  for (const p of quad) {
    const x = Math.fround(p[0]);
    const y = Math.fround(p[1]);
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  const clamp = (v: number, hi: number): number => (v < 0 ? 0 : v > hi ? hi : v);
  const xmin = clamp(Math.floor(minX), w - 1);
  const xmax = clamp(Math.ceil(maxX), w - 1);
  const ymin = clamp(Math.floor(minY), h - 1);
  const ymax = clamp(Math.ceil(maxY), h - 1);
  const mw = xmax - xmin + 1;
  const mh = ymax - ymin + 1;

  // float32 subtraction, then astype(int32), which truncates toward zero.
  const local = quad.map(
    (p) => [Math.trunc(Math.fround(Math.fround(p[0]) - xmin)), Math.trunc(Math.fround(Math.fround(p[1]) - ymin))] as Point,
  );
  const mask = new Uint8Array(mw * mh);
  fillPoly(mask, mw, mh, local);

  let sum = 0;
  let count = 0;
  for (let y = 0; y < mh; y++) {
    const m = y * mw;
    const row = (ymin + y) * w + xmin;
    for (let x = 0; x < mw; x++) {
      if (mask[m + x] !== 0) {
        sum += data[row + x]!;
        count++;
      }
    }
  }
  return count > 0 ? sum / count : 0;
}

/**
 * Text quads from a DB probability map. Each box's quad is ordered tl, tr, br, bl (as PaddleOCR's
 * get_mini_boxes orders it) and its score is the mean probability inside the unexpanded box.
 */
export function dbPostprocess(map: ProbMap, params: DbParams): DetectedBox[] {
  if (map.data.length < map.width * map.height) {
    throw new RangeError(`probability map has ${map.data.length} values, expected ${map.width * map.height}`);
  }
  // numpy compares the float32 map with the threshold cast to float32 (`pred > thresh`).
  let regions = findRegions(map, Math.fround(params.thresh));
  if (regions.length > params.maxCandidates) {
    // Keep the largest, but in their original raster order so output order stays stable.
    const keep = regions
      .map((r, i) => ({ i, size: r.size }))
      .sort((a, b) => b.size - a.size || a.i - b.i)
      .slice(0, Math.max(0, params.maxCandidates))
      .map((k) => k.i)
      .sort((a, b) => a - b);
    regions = keep.map((i) => regions[i]!);
  }

  const boxes: DetectedBox[] = [];
  for (const region of regions) {
    const rect = minAreaRect(region.points);
    if (Math.min(rect.width, rect.height) < params.minSize) continue;
    const score = boxScoreFast(map, rect.corners);
    if (params.boxThresh > score) continue;
    const expanded = unclip(rect.corners, params.unclipRatio);
    if (expanded.length === 0) continue;
    const grown = minAreaRect(expanded);
    if (Math.min(grown.width, grown.height) < params.minSize + 2) continue;
    const quad: Quad = grown.corners;
    boxes.push({ quad, score });
  }
  return boxes;
}
