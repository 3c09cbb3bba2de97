import type { Point, Quad } from './quad.js';
import { boxHeight, boxUnion, inSameRow, isVerticalLine, type RowBox } from './row-box.js';
import { textFrame } from './text-frame.js';

/**
 * Boxes of one row closer than this many line heights are read as one line: measured on both
 * evaluation sets (it joins the split at a full-width bracket, not table cells).
 */
export const DEFAULT_ROW_MERGE_GAP = 0.6;

/**
 * Join detected boxes that continue one another along a text row: same row, and the gap between
 * them at most `maxGap` line heights. The detector splits lines at wide glyph gaps (a full-width
 * bracket, a wide space), more so at high resolution; one box per line reads better and matches
 * how people count lines. Columns and table cells further apart stay separate, and so do vertical
 * lines (isVerticalLine): two columns of vertical text side by side are no row.
 */
export function mergeRowNeighbours(quads: readonly Quad[], maxGap: number): Quad[] {
  if (quads.length < 2 || maxGap <= 0) return quads.slice();
  const frame = textFrame(quads);
  const boxes: RowBox[] = quads.map((q) => {
    const pts = q.map(frame.toFrame);
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
  });
  const order = boxes.map((_, i) => i).sort((a, b) => boxes[a]!.x0 - boxes[b]!.x0);
  const merged: { box: RowBox; members: number[] }[] = [];
  for (const i of order) {
    const b = boxes[i]!;
    // The nearest box to the left in the same row (they are visited left to right).
    const host = isVerticalLine(b)
      ? undefined
      : merged.find(({ box: m }) => !isVerticalLine(m) && inSameRow(m, b) && b.x0 - m.x1 <= maxGap * Math.max(boxHeight(b), boxHeight(m)));
    if (host) {
      host.box = boxUnion(host.box, b);
      host.members.push(i);
    } else {
      merged.push({ box: { ...b }, members: [i] });
    }
  }
  return merged.map(({ box, members }) => {
    if (members.length === 1) return quads[members[0]!]!;
    const corners: Point[] = [
      [box.x0, box.y0],
      [box.x1, box.y0],
      [box.x1, box.y1],
      [box.x0, box.y1],
    ];
    return corners.map(frame.fromFrame) as Quad;
  });
}
