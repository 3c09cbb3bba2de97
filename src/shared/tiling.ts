/** How a client cuts a large image into overlapping tiles for a tile stream. */

import { invalidArgument } from './errors.js';
import type { Rect } from './quad.js';

/**
 * Default overlap between neighbouring tiles, in pixels. A text line whose box is at most this tall
 * lies whole in one of two vertically neighbouring tiles, so it is read from that tile and never
 * re-read. Body text scanned at 300 dpi is about 35–50 px tall and the detector pads its boxes by
 * roughly half a line height, so boxes of ordinary text are 55–80 px; 96 leaves room for that plus
 * the few pixels a box must stay clear of a tile edge to count as whole. Taller text (headings)
 * still comes out right: it is merged across tiles and re-read on the full image.
 */
export const DEFAULT_TILE_OVERLAP = 96;

/**
 * Tiles of at most tileSize × tileSize covering the image exactly, row-major. Per axis it uses the
 * fewest tiles that keep neighbours overlapping by at least `overlap`, all of the same (smallest
 * possible) length, with starts spread evenly; the rounding slack only widens overlaps. Smaller tiles
 * rather than larger overlaps keep the pixels sent and OCRed to a minimum.
 */
export function planTiles(imageWidth: number, imageHeight: number, tileSize: number, overlap: number): Rect[] {
  requirePositiveInteger('imageWidth', imageWidth);
  requirePositiveInteger('imageHeight', imageHeight);
  requirePositiveInteger('tileSize', tileSize);
  if (!Number.isInteger(overlap) || overlap < 0) {
    throw invalidArgument(`overlap must be a whole number of pixels ≥ 0, got ${overlap}; pass e.g. ${DEFAULT_TILE_OVERLAP}`);
  }
  if (overlap >= tileSize) {
    throw invalidArgument(`overlap (${overlap}) must be smaller than tileSize (${tileSize}); lower the overlap or raise the tile size`);
  }
  const columns = planAxis(imageWidth, tileSize, overlap);
  const rows = planAxis(imageHeight, tileSize, overlap);
  const tiles: Rect[] = [];
  for (const row of rows) {
    for (const column of columns) {
      tiles.push({ x: column.start, y: row.start, width: column.length, height: row.length });
    }
  }
  return tiles;
}

interface Span {
  start: number;
  length: number;
}

function planAxis(length: number, tileSize: number, overlap: number): Span[] {
  if (length <= tileSize) return [{ start: 0, length }];
  // n tiles of length t overlapping by o cover n·t − (n−1)·o pixels; take the fewest n with
  // n·(tileSize − o) ≥ length − o, then the smallest t that still covers the axis (t ≤ tileSize).
  const count = Math.ceil((length - overlap) / (tileSize - overlap));
  const tile = Math.ceil((length + (count - 1) * overlap) / count);
  // Even spread: the step (length − t)/(count − 1) is ≤ t − o, and rounding each start moves a
  // neighbour gap by at most ceil(step) ≤ t − o, so every overlap stays ≥ o. The last start is
  // exactly length − t, so the last tile ends on the image edge.
  const step = (length - tile) / (count - 1);
  const spans: Span[] = [];
  for (let i = 0; i < count; i++) spans.push({ start: Math.round(i * step), length: tile });
  return spans;
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw invalidArgument(`${name} must be a whole number of pixels > 0, got ${value}`);
  }
}
