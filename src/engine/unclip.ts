/** DB's box expansion: the detector predicts shrunk text kernels, so boxes are grown back out. */

import ClipperLib from 'clipper-lib';
import { polygonArea, polygonPerimeter } from './geometry.js';
import type { Point } from './types.js';

// pyclipper's PyclipperOffset() defaults.
const ARC_TOLERANCE = 0.25;
const DEF_ARC_TOLERANCE = 0.25;

/** Clipper's Round: half away from zero, then truncate to an integer. */
function round(v: number): number {
  return v < 0 ? Math.trunc(v - 0.5) : Math.trunc(v + 0.5);
}

/** Clipper's GetUnitNormal: the edge direction turned a quarter to the right, unit length. */
function unitNormal(a: Point, b: Point): Point {
  if (a[0] === b[0] && a[1] === b[1]) return [0, 0];
  let dx = b[0] - a[0];
  let dy = b[1] - a[1];
  const f = 1 / Math.sqrt(dx * dx + dy * dy);
  dx *= f;
  dy *= f;
  return [dy, -dx];
}

/**
 * Raw round-joined outward offset of one closed integer polygon: a port of C++ Clipper 6.4.2's
 * ClipperOffset (AddPath, FixOrientations, DoOffset, OffsetPoint, DoRound), which pyclipper wraps.
 * clipper-lib's own ClipperOffset is not used because its DoOffset lacks C++'s "excessive precision"
 * cap on the arc step count, which gives small boxes different (extra) arc points.
 */
function offsetPolygon(path: Point[], delta: number): Point[] | null {
  // AddPath: drop a closing duplicate and consecutive duplicates.
  let high = path.length - 1;
  while (high > 0 && path[0]![0] === path[high]![0] && path[0]![1] === path[high]![1]) high--;
  const src: Point[] = [path[0]!];
  for (let i = 1; i <= high; i++) {
    const last = src[src.length - 1]!;
    if (last[0] !== path[i]![0] || last[1] !== path[i]![1]) src.push(path[i]!);
  }
  if (src.length < 3) return null;

  // FixOrientations: Clipper wants positive area (its Area() sign convention) for outer polygons.
  let a = 0;
  for (let i = 0, j = src.length - 1; i < src.length; j = i++) {
    a += (src[j]![0] + src[i]![0]) * (src[j]![1] - src[i]![1]);
  }
  if (-a * 0.5 < 0) src.reverse();

  const y = ARC_TOLERANCE > Math.abs(delta) * DEF_ARC_TOLERANCE ? Math.abs(delta) * DEF_ARC_TOLERANCE : ARC_TOLERANCE;
  let steps = Math.PI / Math.acos(1 - y / Math.abs(delta));
  if (steps > Math.abs(delta) * Math.PI) steps = Math.abs(delta) * Math.PI;
  const twoPi = Math.PI * 2;
  let sin = Math.sin(twoPi / steps);
  const cos = Math.cos(twoPi / steps);
  const stepsPerRad = steps / twoPi;
  if (delta < 0) sin = -sin;

  const len = src.length;
  const normals: Point[] = [];
  for (let j = 0; j < len - 1; j++) normals.push(unitNormal(src[j]!, src[j + 1]!));
  normals.push(unitNormal(src[len - 1]!, src[0]!));

  const out: Point[] = [];
  let k = len - 1;
  for (let j = 0; j < len; j++) {
    const p = src[j]!;
    const nj = normals[j]!;
    const nk = normals[k]!;
    let sinA = nk[0] * nj[1] - nj[0] * nk[1];
    if (Math.abs(sinA * delta) < 1.0) {
      const cosA = nk[0] * nj[0] + nj[1] * nk[1];
      if (cosA > 0) {
        // Nearly straight: one point, and k stays (as in C++, which returns before k = j).
        out.push([round(p[0] + nk[0] * delta), round(p[1] + nk[1] * delta)]);
        continue;
      }
    } else if (sinA > 1.0) sinA = 1.0;
    else if (sinA < -1.0) sinA = -1.0;

    if (sinA * delta < 0) {
      out.push([round(p[0] + nk[0] * delta), round(p[1] + nk[1] * delta)]);
      out.push([p[0], p[1]]);
      out.push([round(p[0] + nj[0] * delta), round(p[1] + nj[1] * delta)]);
    } else {
      // DoRound
      const angle = Math.atan2(sinA, nk[0] * nj[0] + nk[1] * nj[1]);
      const n = Math.max(round(stepsPerRad * Math.abs(angle)), 1);
      let x = nk[0];
      let yy = nk[1];
      for (let i = 0; i < n; i++) {
        out.push([round(p[0] + x * delta), round(p[1] + yy * delta)]);
        const x2 = x;
        x = x * cos - sin * yy;
        yy = x2 * sin + yy * cos;
      }
      out.push([round(p[0] + nj[0] * delta), round(p[1] + nj[1] * delta)]);
    }
    k = j;
  }
  return out;
}

/**
 * PaddleOCR DBPostProcess.unclip: offset the polygon outwards by area * ratio / perimeter with
 * round joins. As with pyclipper, the input is truncated to integers (pyclipper casts floats to
 * cInt), the distance stays fractional, and the output is integer. Returns the single expanded
 * polygon, or [] when Clipper yields zero or several polygons (PaddleOCR skips such boxes).
 */
export function unclip(poly: readonly Point[], ratio: number): Point[] {
  const perimeter = polygonPerimeter(poly);
  if (!(perimeter > 0)) return [];
  const distance = (polygonArea(poly) * ratio) / perimeter;
  // Clipper copies closed polygons unchanged for a zero offset.
  const ints = poly.map((p) => [Math.trunc(p[0]), Math.trunc(p[1])] as Point);
  const raw = distance > -1e-20 && distance < 1e-20 ? ints : offsetPolygon(ints, distance);
  if (raw === null || raw.length === 0) return [];

  // ClipperOffset.Execute's clean-up: union with the positive fill rule.
  const clipper = new ClipperLib.Clipper(0);
  clipper.AddPaths([raw.map((p) => ({ X: p[0], Y: p[1] }))], ClipperLib.PolyType.ptSubject, true);
  const solution: ClipperLib.Paths = [];
  clipper.Execute(ClipperLib.ClipType.ctUnion, solution, ClipperLib.PolyFillType.pftPositive, ClipperLib.PolyFillType.pftPositive);
  if (solution.length !== 1) return [];
  return solution[0]!.map((p) => [p.X, p.Y] as Point);
}
