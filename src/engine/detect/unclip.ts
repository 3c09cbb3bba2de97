/** DB's box expansion: the detector predicts shrunk text kernels, so boxes are grown back out. */

import ClipperLib from 'clipper-lib';
import { polygonArea, polygonPerimeter } from './geometry.js';
import type { Point } from '../types.js';

// pyclipper's PyclipperOffset() defaults, which PaddleOCR uses.
const MITER_LIMIT = 2;
const ARC_TOLERANCE = 0.25;

/**
 * PaddleOCR DBPostProcess.unclip: offset the polygon outwards by area * ratio / perimeter with
 * round joins, through Clipper as pyclipper does. Returns the single expanded polygon, or [] when
 * Clipper yields zero or several polygons (PaddleOCR skips such boxes). clipper-lib's JS port places
 * arc points on very small boxes slightly differently from C++ Clipper; the boxes that follow
 * (minimum-area rectangles of these points) differ by at most a pixel.
 */
export function unclip(poly: readonly Point[], ratio: number): Point[] {
  const perimeter = polygonPerimeter(poly);
  if (!(perimeter > 0)) return [];
  const distance = (polygonArea(poly) * ratio) / perimeter;
  // pyclipper casts coordinates to integers; the offset distance stays fractional.
  const path = poly.map((p) => ({ X: Math.trunc(p[0]), Y: Math.trunc(p[1]) }));
  const offset = new ClipperLib.ClipperOffset(MITER_LIMIT, ARC_TOLERANCE);
  offset.AddPath(path, ClipperLib.JoinType.jtRound, ClipperLib.EndType.etClosedPolygon);
  const solution: ClipperLib.Paths = [];
  offset.Execute(solution, distance);
  if (solution.length !== 1) return [];
  return solution[0]!.map((p) => [p.X, p.Y] as Point);
}
