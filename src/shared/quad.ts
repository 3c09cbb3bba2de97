/** Geometry shapes used on both sides of the wire (engine, server, client tiling). */

export type Point = [number, number];
/** Four corners clockwise from the top-left of the text as read: tl, tr, br, bl. */
export type Quad = [Point, Point, Point, Point];

/** An axis-aligned rectangle in pixels. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Side lengths as PaddleOCR's get_rotate_crop_image measures them (before its int() truncation). */
export function quadSize(quad: Quad): { width: number; height: number } {
  const d = (a: Point, b: Point): number => Math.hypot(a[0] - b[0], a[1] - b[1]);
  return {
    width: Math.max(d(quad[0], quad[1]), d(quad[2], quad[3])),
    height: Math.max(d(quad[0], quad[3]), d(quad[1], quad[2])),
  };
}
