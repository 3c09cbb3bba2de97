import type { Point, Quad } from './quad.js';

/**
 * A frame rotated to a page's dominant text direction: in it, text rows run along the x axis, so
 * row and column geometry works on slightly skewed scans as on straight ones.
 */
export interface TextFrame {
  /** Radians; the direction of the text's top edges, y down. */
  angle: number;
  toFrame: (p: Point) => Point;
  fromFrame: (p: Point) => Point;
}

function median(values: number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? 0 : s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The median angle of the boxes' top edges. Top edges point right for upright text, so the angles
 * stay well inside (-90°, 90°) and a plain median is meaningful; one rotated outlier cannot move it.
 */
export function textFrame(quads: readonly Quad[]): TextFrame {
  const angle = median(quads.map(([tl, tr]) => Math.atan2(tr[1] - tl[1], tr[0] - tl[0])));
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  return {
    angle,
    toFrame: ([x, y]) => [x * cos + y * sin, -x * sin + y * cos],
    fromFrame: ([u, v]) => [u * cos - v * sin, u * sin + v * cos],
  };
}
