/** DB's box expansion: the detector predicts shrunk text kernels, so boxes are grown back out. */

import ClipperLib from 'clipper-lib';
import { polygonArea, polygonPerimeter } from './geometry.js';
import type { Point } from './types.js';

/**
 * PaddleOCR DBPostProcess.unclip: offset the polygon outwards by area * ratio / perimeter with
 * round joins. Like pyclipper, the input is truncated to integers (pyclipper casts floats to
 * cInt) and the output is integer; the distance itself stays fractional, as in pyclipper.
 * Returns the single expanded polygon, or [] when Clipper yields zero or several polygons
 * (PaddleOCR skips such boxes).
 */
export function unclip(poly: readonly Point[], ratio: number): Point[] {
  const perimeter = polygonPerimeter(poly);
  if (!(perimeter > 0)) return [];
  const distance = (polygonArea(poly) * ratio) / perimeter;

  const path: ClipperLib.Path = poly.map((p) => ({ X: Math.trunc(p[0]), Y: Math.trunc(p[1]) }));
  // Defaults match pyclipper's PyclipperOffset(miter_limit=2.0, arc_tolerance=0.25).
  const offset = new ClipperLib.ClipperOffset(2, 0.25);
  offset.AddPath(path, ClipperLib.JoinType.jtRound, ClipperLib.EndType.etClosedPolygon);
  const solution: ClipperLib.Paths = [];
  offset.Execute(solution, distance);
  if (solution.length !== 1) return [];
  return solution[0]!.map((p) => [p.X, p.Y] as Point);
}
