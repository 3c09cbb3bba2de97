/**
 * Reading order for horizontal text: rows top to bottom, left to right within a row, measured in a
 * frame rotated to the page's dominant text direction so slightly skewed scans still group into rows.
 */

import { quadSize, type Quad } from './quad.js';
import { textFrame } from './text-frame.js';

interface Placed<T> {
  item: T;
  /** Centre along the text direction. */
  x: number;
  /** Centre across the text direction (down the page). */
  y: number;
  height: number;
}

/**
 * Sorts items into reading order; returns a new array. Two boxes share a row when their centres,
 * measured across the dominant text direction (the median angle of the boxes' top edges), differ by
 * less than half the smaller box's height. Boxes are taken top to bottom and each joins the latest
 * row if it matches any box already in it, so a row can follow a slight curve but lines of an
 * adjacent column that sit half a line lower start their own row.
 */
export function sortReadingOrder<T extends { box: Quad }>(items: readonly T[]): T[] {
  if (items.length < 2) return items.slice();

  const frame = textFrame(items.map((i) => i.box));
  const placed: Placed<T>[] = items.map((item) => {
    let cx = 0;
    let cy = 0;
    for (const p of item.box) {
      cx += p[0] / 4;
      cy += p[1] / 4;
    }
    const [x, y] = frame.toFrame([cx, cy]);
    return { item, x, y, height: quadSize(item.box).height };
  });
  placed.sort((a, b) => a.y - b.y || a.x - b.x);

  const rows: Placed<T>[][] = [];
  for (const p of placed) {
    const row = rows[rows.length - 1];
    if (row !== undefined && row.some((q) => Math.abs(q.y - p.y) < Math.min(q.height, p.height) / 2)) {
      row.push(p);
    } else {
      rows.push([p]);
    }
  }
  return rows.flatMap((row) => row.sort((a, b) => a.x - b.x).map((p) => p.item));
}

/** Lines read with a lower confidence are left out unless a request says otherwise. */
export const DEFAULT_MIN_CONFIDENCE = 0.5;

/** The lines a caller gets: empty and unsure readings dropped, the rest in reading order. */
export function selectLines<T extends { box: Quad; text: string; confidence: number }>(lines: readonly T[], minConfidence: number): T[] {
  return sortReadingOrder(lines.filter((l) => l.text.trim() !== '' && l.confidence >= minConfidence));
}
