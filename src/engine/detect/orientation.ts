/**
 * Page orientation from what detection and the line classifier already give: whether a page's lines
 * run across or down it (the detected boxes' shapes), whether it is upside down (the 0/180° line
 * classifier's votes), and the quarter-turn maps between the image and the upright page.
 */

import type { Point, Quad } from '../types.js';

/** Degrees clockwise by which the page is turned in the image: the image is the upright page turned by this much. */
export type Rotation = 0 | 90 | 180 | 270;

export const ROTATIONS: readonly Rotation[] = [0, 90, 180, 270];

/** `a` then `b`, both clockwise. */
export const addRotation = (a: Rotation, b: Rotation): Rotation => ((a + b) % 360) as Rotation;

/** The turn (clockwise) that undoes `r`: what brings a page turned by `r` upright. */
export const undoRotation = (r: Rotation): Rotation => ((360 - r) % 360) as Rotation;

/** A box is a line across or down the page when its long side is at least this many times its short one. */
export const LINE_ASPECT = 2;

/**
 * Which way a box runs: 'across' or 'down' the image when its long side is at least LINE_ASPECT
 * times its short one and nearer to that axis, null for boxes nearer to square (single characters,
 * short numbers), which say nothing. Judged from the sides themselves, not from the corners' order:
 * the detector orders a box's corners from the image's top-left, and of a tall box tilted by a few
 * degrees that makes its long sides look like its top and bottom.
 */
export function lineDirection(quad: Quad): { direction: 'across' | 'down'; length: number } | null {
  const [p0, p1, , p3] = quad;
  const a: Point = [p1[0] - p0[0], p1[1] - p0[1]];
  const b: Point = [p3[0] - p0[0], p3[1] - p0[1]];
  const la = Math.hypot(a[0], a[1]);
  const lb = Math.hypot(b[0], b[1]);
  const [long, length, short] = la >= lb ? [a, la, lb] : [b, lb, la];
  if (length < LINE_ASPECT * short) return null;
  return { direction: Math.abs(long[0]) >= Math.abs(long[1]) ? 'across' : 'down', length };
}

/** The length of the lines that run across the image and of those that run down it (lineDirection). */
export function lineDirections(quads: readonly Quad[]): { across: number; down: number } {
  let across = 0;
  let down = 0;
  for (const q of quads) {
    const d = lineDirection(q);
    if (d?.direction === 'across') across += d.length;
    else if (d) down += d.length;
  }
  return { across, down };
}

/**
 * Whether the page is turned a quarter (90° or 270°): more of its line length runs down it than
 * across. A page of vertical Chinese passes too; turned a quarter, its columns read as rows, in the
 * order (right to left) and with the crops that reading each column as a vertical line would give.
 */
export function isSideways(quads: readonly Quad[]): boolean {
  const { across, down } = lineDirections(quads);
  return down > across;
}

/** One vote of the 0/180° line classifier: the angle it found and its probability. */
export interface LineVote {
  angle: number;
  score: number;
}

/** A vote of at least this probability counts as sure; below it a vote still counts, by its margin. */
export const SURE_VOTE = 0.9;

/**
 * Upside-down weight a page needs before it is turned: more than one sure line. One line alone does
 * not turn a page: the classifier is often unsure of a single short line (digits read much the same
 * either way up), and a line image read upside down loses all its text.
 */
export const MIN_TURNED_WEIGHT = 1.5;

/**
 * Whether the votes say the page is upside down. Each vote weighs by how sure the classifier is (its
 * probability's margin over a coin toss, 0 to 1), and the page is turned when the upside-down weight
 * is the larger, comes to at least half a sure vote per line looked at, and to MIN_TURNED_WEIGHT.
 * Pages are far more often upright: the lines of a photographed scene or of noise draw unsure votes
 * both ways, and those leave the page as it is. No votes: upright.
 */
export function isUpsideDown(votes: readonly LineVote[]): boolean {
  let turned = 0;
  let upright = 0;
  for (const v of votes) {
    const weight = Math.max(0, 2 * v.score - 1);
    if (v.angle === 180) turned += weight;
    else upright += weight;
  }
  return turned > upright && turned >= Math.max(MIN_TURNED_WEIGHT, votes.length / 2);
}

/**
 * How much surer the recognizer must read the voted lines upside down than as they stand before a
 * page is turned. Upright invoices scaled to 200 to 300 px wide (lines 4 to 10 px high) drew sure
 * upside-down votes from the classifier, yet read less surely turned (by 0.09 to 0.34); pages truly
 * upside down read 0.1 to 1 surer turned, but for a few 200 to 325 px wide, noise either way up.
 */
export const TURNED_READING_MARGIN = 0.1;

/** A line read as it stands and upside down: the recognizer's confidence each way (0 for nothing read) and the pixels it covers. */
export interface LineReadBothWays {
  asIs: number;
  turned: number;
  area: number;
}

/**
 * Whether lines read clearly better turned upside down than as they stand: their confidence turned
 * exceeds their confidence as they stand by TURNED_READING_MARGIN, each line weighing by its area
 * (a line a few pixels high is read as noise either way, and says less than a tall one).
 */
export function readsBetterTurned(lines: readonly LineReadBothWays[]): boolean {
  const area = lines.reduce((sum, l) => sum + l.area, 0);
  if (area === 0) return false;
  const gain = lines.reduce((sum, l) => sum + l.area * (l.turned - l.asIs), 0) / area;
  return gain >= TURNED_READING_MARGIN;
}

/**
 * Lines at least this many pixels high are ones the classifier is seldom wrong about: of its sure
 * votes on eval-dev's documents scaled to 200 to 800 px wide, one in 400 was wrong from 16 px up,
 * one in 7 from 8 to 15 px, one in 3 under 8 px.
 */
export const CLEAR_LINE_HEIGHT = 16;

/**
 * Whether a turn the votes ask for needs no check: at least `enough` votes, none of them for
 * upright, all on lines at least CLEAR_LINE_HEIGHT high. Others are checked by the recognizer
 * (readsBetterTurned) before the page is turned.
 */
export function turnIsClear(votes: readonly LineVote[], lineHeights: readonly number[], enough: number): boolean {
  return votes.length >= enough && votes.every((v) => v.angle === 180) && lineHeights.every((h) => h >= CLEAR_LINE_HEIGHT);
}

/**
 * Whether the first votes settle the question, so that no more lines need classifying: at least
 * `enough` of them, all one way, all sure.
 */
export function votesSettled(votes: readonly LineVote[], enough: number): boolean {
  if (votes.length < enough) return false;
  const angle = votes[0]!.angle;
  return votes.every((v) => v.angle === angle && v.score >= SURE_VOTE);
}

/** The size of a `width` × `height` image turned by `rotation` either way: the upright page's, from the image's. */
export function turnedSize(width: number, height: number, rotation: Rotation): { width: number; height: number } {
  return rotation === 90 || rotation === 270 ? { width: height, height: width } : { width, height };
}

/**
 * A point of the upright page in the image (`width` × `height`) that shows it turned by `rotation`.
 * Pixel centres are at integers (as cropQuad samples), so a quarter turn maps pixels onto pixels and
 * a crop from the image equals the same crop from the turned page.
 */
export function toImagePoint([u, v]: Point, rotation: Rotation, width: number, height: number): Point {
  switch (rotation) {
    case 0:
      return [u, v];
    case 90:
      return [width - 1 - v, u];
    case 180:
      return [width - 1 - u, height - 1 - v];
    case 270:
      return [v, height - 1 - u];
  }
}

/** The inverse of toImagePoint: a point of the image on the upright page. */
export function toUprightPoint([x, y]: Point, rotation: Rotation, width: number, height: number): Point {
  switch (rotation) {
    case 0:
      return [x, y];
    case 90:
      return [y, width - 1 - x];
    case 180:
      return [width - 1 - x, height - 1 - y];
    case 270:
      return [height - 1 - y, x];
  }
}

/**
 * A quad of the upright page in the image's pixels. The corners keep their order, so the first is
 * still the text's top-left: cropQuad reads the line upright from the image as it stands.
 */
export function quadToImage(quad: Quad, rotation: Rotation, width: number, height: number): Quad {
  return quad.map((p) => toImagePoint(p, rotation, width, height)) as Quad;
}

/**
 * A quad of the image, its corners ordered from the image's top-left (as the detector gives them),
 * on the upright page, its corners ordered from the upright page's top-left.
 */
export function quadToUpright(quad: Quad, rotation: Rotation, width: number, height: number): Quad {
  const shift = rotation / 90;
  return [0, 1, 2, 3].map((k) => toUprightPoint(quad[(k + shift) % 4]!, rotation, width, height)) as Quad;
}
