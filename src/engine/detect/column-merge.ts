/**
 * Vertical lines that the detector found one character at a time. It was trained mostly on text
 * running across, and of a column of characters with some space between them it often gives one
 * box per character; read one by one, they lose the context the recognizer reads a line with. The
 * boxes of such a column are joined into one vertical line, which cropQuad turns to read.
 */

import { boxHeight, boxUnion, boxWidth, inSameRow, isVerticalLine, type RowBox } from '../../shared/row-box.js';
import { textFrame } from '../../shared/text-frame.js';
import type { Point, Quad } from '../types.js';

/** A character's box: about as wide as tall (after the detector's unclip). */
const PIECE_ASPECT = 1.6;
/** Two pieces are one column when the gap between them is at most this share of their width… */
const COLUMN_GAP = 0.3;
/** …they overlap across the column by at least this share of the narrower… */
const COLUMN_OVERLAP = 0.7;
/** …and their widths differ by at most this share of the wider. */
const WIDTH_SPREAD = 0.3;
/** Pieces a column needs: two characters one above the other are as likely two rows of a table. */
const MIN_PIECES = 3;
/** A box at least this many times wider than tall is a line across the page. */
const ACROSS_ASPECT = 2;

/** A piece of a column: one character, or a part of a vertical line the detector split. */
const isPiece = (b: RowBox): boolean =>
  isVerticalLine(b) || (boxWidth(b) <= PIECE_ASPECT * boxHeight(b) && boxHeight(b) <= PIECE_ASPECT * boxWidth(b));

/** Whether `b` continues the column of `a` downwards. */
function continues(a: RowBox, b: RowBox): boolean {
  const wa = boxWidth(a);
  const wb = boxWidth(b);
  const overlap = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  const gap = b.y0 - a.y1;
  return (
    overlap >= COLUMN_OVERLAP * Math.min(wa, wb) &&
    Math.abs(wa - wb) <= WIDTH_SPREAD * Math.max(wa, wb) &&
    gap <= COLUMN_GAP * Math.max(wa, wb) &&
    // Overlapping a little (the detector's boxes are grown), not one inside the other.
    gap >= -0.5 * Math.min(boxHeight(a), boxHeight(b))
  );
}

/** A column joined from pieces, with the pieces it was joined from. */
export interface Column {
  quad: Quad;
  pieces: Quad[];
}

/**
 * Join boxes stacked into a column: pieces near to square (or parts of a vertical line), aligned,
 * of one width, each close under the one above, MIN_PIECES of them at least, standing at least
 * twice as tall as wide when joined. A piece that shares a row with a line across the page is a
 * cell of a table (a column of quantities), not a character of vertical text, and is left alone.
 * Boxes not joined come back as the same objects, followed by the columns' quads.
 */
export function mergeColumns(quads: readonly Quad[]): { quads: Quad[]; columns: Column[] } {
  if (quads.length < MIN_PIECES) return { quads: quads.slice(), columns: [] };
  const frame = textFrame(quads);
  const boxes: RowBox[] = quads.map((q) => {
    const pts = q.map(frame.toFrame);
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
  });
  const across = boxes.filter((b) => boxWidth(b) >= ACROSS_ASPECT * boxHeight(b));
  const pieces = boxes
    .map((_, i) => i)
    .filter((i) => isPiece(boxes[i]!) && !across.some((a) => inSameRow(a, boxes[i]!)))
    .sort((a, b) => boxes[a]!.y0 - boxes[b]!.y0);
  // Each piece links to the nearest piece that continues it below, if that one has no link from above yet.
  const below = new Map<number, number>();
  const linked = new Set<number>();
  for (const i of pieces) {
    const next = pieces.find((j) => j !== i && !linked.has(j) && boxes[j]!.y0 > boxes[i]!.y0 && continues(boxes[i]!, boxes[j]!));
    if (next !== undefined) {
      below.set(i, next);
      linked.add(next);
    }
  }
  const joined = new Set<number>();
  const columns: Column[] = [];
  for (const top of pieces) {
    if (linked.has(top)) continue;
    const chain = [top];
    for (let at = below.get(top); at !== undefined; at = below.get(at)) chain.push(at);
    const column = chain.map((i) => boxes[i]!).reduce(boxUnion);
    if (chain.length < MIN_PIECES || boxHeight(column) < 2 * boxWidth(column)) continue;
    chain.forEach((i) => joined.add(i));
    const corners: Point[] = [
      [column.x0, column.y0],
      [column.x1, column.y0],
      [column.x1, column.y1],
      [column.x0, column.y1],
    ];
    columns.push({ quad: corners.map(frame.fromFrame) as Quad, pieces: chain.map((i) => quads[i]!) });
  }
  return { quads: [...quads.filter((_, i) => !joined.has(i)), ...columns.map((c) => c.quad)], columns };
}
