/**
 * Reading order for horizontal text: rows top to bottom, left to right within a row, measured in a
 * frame rotated to the page's dominant text direction so slightly skewed scans still group into rows.
 */

import { quadSize } from './geometry.js';
import type { Quad } from './types.js';

interface Placed<T> {
  item: T;
  /** Centre along the text direction. */
  x: number;
  /** Centre across the text direction (down the page). */
  y: number;
  height: number;
}

function median(values: number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
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

  // Top edges point right for upright text, so their angles stay well inside (-90°, 90°) and a plain
  // median is meaningful; one rotated outlier cannot move it.
  const theta = median(items.map(({ box: [tl, tr] }) => Math.atan2(tr[1] - tl[1], tr[0] - tl[0])));
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);

  const placed: Placed<T>[] = items.map((item) => {
    let cx = 0;
    let cy = 0;
    for (const p of item.box) {
      cx += p[0] / 4;
      cy += p[1] / 4;
    }
    // Rotate by -theta: the text direction becomes the x axis.
    return { item, x: cx * cos + cy * sin, y: -cx * sin + cy * cos, height: quadSize(item.box).height };
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
