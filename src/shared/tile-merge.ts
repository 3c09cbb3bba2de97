/**
 * Merging the lines read from overlapping tiles into one reading of the whole image: which tile
 * readings to trust as they are, and which regions must be re-read on the full image because a
 * tile border cut through their text.
 *
 * Whether a tile border cut a line is judged in image coordinates (tile borders are axis-aligned);
 * everything about rows, gaps and overlaps on bounding rectangles in the page's text frame (rotated
 * to the dominant text direction), so that the long lines of a skewed scan do not span several rows.
 */

import { invalidArgument } from './errors.js';
import type { Quad, Rect } from './quad.js';
import { mergeRowNeighbours } from './row-merge.js';
import { boxHeight, boxUnion, inSameRow, type RowBox } from './row-box.js';
import { textFrame, type TextFrame } from './text-frame.js';

export interface TileLine {
  text: string;
  confidence: number;
  box: Quad;
}

/** One tile's reading; line boxes are already in full-image coordinates. */
export interface TileResult {
  tile: Rect;
  lines: TileLine[];
}

export interface MergeOptions {
  /**
   * A box this close (px) to an interior tile edge is taken as cut by it, or half its own height if
   * that is more: the detector often boxes no part of a glyph the border cut. Default 3.
   */
  edgeMargin?: number;
  /**
   * Lines of one row closer than this many line heights are read as one (as the engine does within
   * an image), across tile borders too. Default 0: never.
   */
  rowMergeGap?: number;
}

export interface MergePlan {
  /** Lines read whole inside one tile, each once; in no particular order. */
  keep: TileLine[];
  /** Axis-aligned regions (tl, tr, br, bl) to re-recognize on the full image, one per cut line. */
  reread: Quad[];
}

export const DEFAULT_EDGE_MARGIN = 3;

/** IoU above which two whole readings in the same row are the same line. */
const DUPLICATE_IOU = 0.5;
/** Share of a box lying inside another for it to count as the same text (or as already read). */
const COVERED = 0.8;
/** Relative margin: a box within this share of its height from an interior edge may be cut. */
const RELATIVE_MARGIN = 0.5;
/** Horizontal gap, as a share of the line height, that two cut pieces may have and still join. */
const JOIN_GAP = 0.5;
/**
 * Horizontal overlap, as a share of the line height, from which a whole reading is taken as part of
 * a region being re-read (so its text would otherwise be read twice, or the region would stop
 * mid-word where the cut piece was clipped).
 */
const ABSORB_OVERLAP = 0.25;

type Box = RowBox;

interface Entry {
  line: TileLine;
  tileIndex: number;
  /** Bounds in the text frame. */
  box: Box;
  /** Reaches an interior horizontal tile border: the tile may hold only part of its height. */
  clipped: boolean;
}

/**
 * Plan how to merge per-tile readings: `keep` holds lines read whole (duplicates from overlaps
 * removed), `reread` the regions of lines cut by interior tile borders, merged across tiles.
 */
export function planMerge(imageWidth: number, imageHeight: number, tiles: TileResult[], options: MergeOptions = {}): MergePlan {
  const edgeMargin = options.edgeMargin ?? DEFAULT_EDGE_MARGIN;
  if (!(imageWidth > 0) || !(imageHeight > 0)) {
    throw invalidArgument(`image size must be positive, got ${imageWidth}x${imageHeight}`);
  }
  if (!(edgeMargin >= 0)) throw invalidArgument(`edgeMargin must be ≥ 0 px, got ${edgeMargin}`);

  const frame = textFrame(tiles.flatMap((t) => t.lines.map((l) => l.box)));
  const whole: Entry[] = [];
  const pieces: Entry[] = [];
  const slivers: Entry[] = [];
  tiles.forEach((result, tileIndex) => {
    for (const line of result.lines) {
      const box = boundsOf(line.box.map(frame.toFrame) as Quad);
      const cut = cutSides(boundsOf(line.box), boxHeight(box), result.tile, imageWidth, imageHeight, edgeMargin);
      const entry: Entry = { line, tileIndex, box, clipped: cut.horizontal };
      (cut.horizontal ? slivers : cut.vertical ? pieces : whole).push(entry);
    }
  });

  const kept = dedupeWhole(whole);

  // A line clipped by a horizontal border is usually seen unclipped by the neighbouring tile (tiles
  // overlap by more than a line's height): then the clipped reading is dropped.
  const unclipped = [...kept, ...pieces];
  const clipped = slivers.filter((s) => !unclipped.some((o) => o.tileIndex !== s.tileIndex && coveredShare(s.box, o.box) >= COVERED));

  // A piece already read whole elsewhere adds nothing: the whole reading wins.
  const candidates = [...pieces, ...clipped].filter(
    (c) => !kept.some((k) => k.tileIndex !== c.tileIndex && coveredShare(c.box, k.box) >= COVERED),
  );

  const clusters = clusterPieces(candidates).filter((region) => !kept.some((k) => coveredShare(region, k.box) >= COVERED));

  const { regions, absorbed } = absorbOverlaps(clusters, kept);

  const keep = kept.filter((_, i) => !absorbed.has(i)).map((k) => k.line);
  const reread = regions.map((r) => toImageQuad(r, frame, imageWidth, imageHeight));
  return joinRowNeighbours(keep, reread, options.rowMergeGap ?? 0);
}

/** Row neighbours that different tiles read apart become one region to re-read. */
function joinRowNeighbours(keep: TileLine[], reread: Quad[], gap: number): MergePlan {
  if (gap <= 0) return { keep, reread };
  const byBox = new Map<Quad, TileLine>(keep.map((l) => [l.box, l]));
  const joined = mergeRowNeighbours([...keep.map((l) => l.box), ...reread], gap);
  return {
    keep: joined.flatMap((q) => byBox.get(q) ?? []),
    reread: joined.filter((q) => !byBox.has(q)),
  };
}

/**
 * Which interior tile edges the box reaches within its margin: left/right (vertical borders cut the
 * line along its length) or top/bottom (horizontal borders clip it).
 */
function cutSides(
  box: Box,
  lineHeight: number,
  tile: Rect,
  imageWidth: number,
  imageHeight: number,
  edgeMargin: number,
): { vertical: boolean; horizontal: boolean } {
  const margin = Math.max(edgeMargin, RELATIVE_MARGIN * lineHeight);
  const right = tile.x + tile.width;
  const bottom = tile.y + tile.height;
  return {
    vertical: (tile.x > 0 && box.x0 <= tile.x + margin) || (right < imageWidth && box.x1 >= right - margin),
    horizontal: (tile.y > 0 && box.y0 <= tile.y + margin) || (bottom < imageHeight && box.y1 >= bottom - margin),
  };
}

/**
 * Drop whole readings that repeat one from another tile. Greedy from the best reading (more
 * characters, then higher confidence), so of each group of duplicates the best one survives; lines of
 * the same tile never displace each other, as the detector already kept them apart.
 */
function dedupeWhole(whole: Entry[]): Entry[] {
  const ranked = [...whole].sort((a, b) => charCount(b.line.text) - charCount(a.line.text) || b.line.confidence - a.line.confidence);
  const kept: Entry[] = [];
  for (const entry of ranked) {
    const duplicate = kept.some((k) => k.tileIndex !== entry.tileIndex && sameLine(k.box, entry.box));
    if (!duplicate) kept.push(entry);
  }
  return kept;
}

function sameLine(a: Box, b: Box): boolean {
  // IoU ≥ 0.5 already puts both boxes in the same row: each overlaps the other by ≥ half its height.
  if (iou(a, b) >= DUPLICATE_IOU) return true;
  // One tile may read a line as one box and another as its words: the words lie inside the line.
  return coveredShare(a, b) >= COVERED || coveredShare(b, a) >= COVERED;
}

/** Union-find over cut pieces: same row and touching or close horizontally; returns each group's bounds. */
function clusterPieces(pieces: Entry[]): Box[] {
  const parent = pieces.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  for (let i = 0; i < pieces.length; i++) {
    for (let j = i + 1; j < pieces.length; j++) {
      const a = pieces[i]!.box;
      const b = pieces[j]!.box;
      const lineHeight = Math.max(boxHeight(a), boxHeight(b));
      const alongRow = inSameRow(a, b) && horizontalGap(a, b) <= JOIN_GAP * lineHeight;
      // Halves of one text that a horizontal border clipped lie in two tiles, each clipped: lines
      // the detector boxed apart in one tile, or that only a vertical border cut, are never joined
      // across rows, however close (padded boxes of dense lines touch their neighbours).
      const halves = pieces[i]!.clipped && pieces[j]!.clipped && pieces[i]!.tileIndex !== pieces[j]!.tileIndex;
      if (alongRow || (halves && sameColumnAcross(a, b))) parent[find(i)] = find(j);
    }
  }
  const groups = new Map<number, Box>();
  pieces.forEach((piece, i) => {
    const root = find(i);
    const group = groups.get(root);
    groups.set(root, group ? boxUnion(group, piece.box) : { ...piece.box });
  });
  return [...groups.values()];
}

/**
 * A region built from clipped pieces may stop mid-word or overlap a whole reading of the same row (a
 * tile that split the line into a cut piece and a whole rest). Fold such readings into the region,
 * and merge regions that come to overlap, so every stretch of text is read once and whole.
 */
function absorbOverlaps(clusters: Box[], kept: Entry[]): { regions: Box[]; absorbed: Set<number> } {
  const regions = clusters.map((r) => ({ ...r }));
  const absorbed = new Set<number>();
  let changed = true;
  while (changed) {
    changed = false;
    for (let r = 0; r < regions.length && !changed; r++) {
      const region = regions[r]!;
      for (let k = 0; k < kept.length; k++) {
        if (absorbed.has(k)) continue;
        if (overlapsInRow(region, kept[k]!.box)) {
          regions[r] = boxUnion(region, kept[k]!.box);
          absorbed.add(k);
          changed = true;
          break;
        }
      }
      for (let s = r + 1; s < regions.length && !changed; s++) {
        if (overlapsInRow(region, regions[s]!)) {
          regions[r] = boxUnion(region, regions[s]!);
          regions.splice(s, 1);
          changed = true;
        }
      }
    }
  }
  return { regions, absorbed };
}

function overlapsInRow(a: Box, b: Box): boolean {
  const overlap = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  return inSameRow(a, b) && overlap > 0 && overlap >= ABSORB_OVERLAP * Math.min(boxHeight(a), boxHeight(b));
}

/**
 * The two parts of one text clipped by a horizontal border that no tile saw whole (tiles overlap by
 * less than the line's height): they touch or overlap vertically and mostly share their columns.
 */
function sameColumnAcross(a: Box, b: Box): boolean {
  const shared = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  const verticalGap = Math.max(a.y0, b.y0) - Math.min(a.y1, b.y1);
  return shared >= 0.5 * Math.min(a.x1 - a.x0, b.x1 - b.x0) && verticalGap <= 0;
}

/** Negative when the boxes overlap horizontally. */
function horizontalGap(a: Box, b: Box): number {
  return Math.max(a.x0, b.x0) - Math.min(a.x1, b.x1);
}

/** Share of `inner`'s area that lies inside `outer` (0 for an empty inner box). */
function coveredShare(inner: Box, outer: Box): number {
  const area = areaOf(inner);
  return area > 0 ? intersectionArea(inner, outer) / area : 0;
}

function iou(a: Box, b: Box): number {
  const inter = intersectionArea(a, b);
  const unionArea = areaOf(a) + areaOf(b) - inter;
  return unionArea > 0 ? inter / unionArea : 0;
}

function intersectionArea(a: Box, b: Box): number {
  const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  const h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  return w > 0 && h > 0 ? w * h : 0;
}

function areaOf(b: Box): number {
  return (b.x1 - b.x0) * (b.y1 - b.y0);
}

function boundsOf(quad: Quad): Box {
  const xs = quad.map((p) => p[0]);
  const ys = quad.map((p) => p[1]);
  return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
}

/** A text-frame rectangle back in image coordinates (tl, tr, br, bl), clamped to the image. */
function toImageQuad(b: Box, frame: TextFrame, width: number, heightLimit: number): Quad {
  const fit = (v: number, max: number): number => Math.min(Math.max(v, 0), max);
  const corners: Quad = [
    [b.x0, b.y0],
    [b.x1, b.y0],
    [b.x1, b.y1],
    [b.x0, b.y1],
  ];
  return corners.map((p) => {
    const [x, y] = frame.fromFrame(p);
    return [fit(x, width), fit(y, heightLimit)];
  }) as Quad;
}

/** Code points, so a CJK character counts once like a Latin letter. */
function charCount(text: string): number {
  return [...text.trim()].length;
}
