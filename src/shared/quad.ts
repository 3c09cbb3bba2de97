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
