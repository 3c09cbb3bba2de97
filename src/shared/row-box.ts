/** Axis-aligned boxes in a text frame (textFrame), and when two of them lie in one text row. */

export interface RowBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Vertical overlap, as a share of the taller box, for two boxes to lie in one text row. */
export const SAME_ROW = 0.6;

export const boxHeight = (b: RowBox): number => b.y1 - b.y0;

export const boxWidth = (b: RowBox): number => b.x1 - b.x0;

/**
 * A box at least this many times taller than wide holds a vertical line (PaddleOCR's rule, which
 * cropQuad follows: such crops are turned to be read).
 */
export const VERTICAL_LINE_ASPECT = 1.5;

/** A vertical line: no row runs through it, so it joins no row. */
export const isVerticalLine = (b: RowBox): boolean => boxHeight(b) >= VERTICAL_LINE_ASPECT * boxWidth(b);

export const boxUnion = (a: RowBox, b: RowBox): RowBox => ({
  x0: Math.min(a.x0, b.x0),
  y0: Math.min(a.y0, b.y0),
  x1: Math.max(a.x1, b.x1),
  y1: Math.max(a.y1, b.y1),
});

/** Against the taller box, so that a thin box cannot join two rows it touches. */
export function inSameRow(a: RowBox, b: RowBox): boolean {
  const overlap = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  return overlap > 0 && overlap >= SAME_ROW * Math.max(boxHeight(a), boxHeight(b));
}
