import { quadSize } from './geometry.js';
import type { Quad } from '../types.js';

/** Below this height an image holds at most one line of readable text. */
export const ONE_LINE_MAX_HEIGHT = 64;

/** An image at least this many times wider than high is a strip of text: a line image. */
export const STRIP_ASPECT = 3;

/**
 * Whether an image is a line or a word by its shape alone, before anything is detected: under
 * ONE_LINE_MAX_HEIGHT on its shorter side, or a strip STRIP_ASPECT times wider than high. Its text is
 * as large as the image allows.
 */
export const isLineShaped = (width: number, height: number): boolean =>
  Math.min(width, height) < ONE_LINE_MAX_HEIGHT || width >= STRIP_ASPECT * height;

/**
 * Whether an image is a single text line (a crop), judged from what the detector found. On such
 * images the recognizer reads the whole image far better than detection + crop: the detector
 * splits noisy lines into fragments, misses faint ones and text touching the image's edges.
 */
export function isLineImage(width: number, height: number, quads: readonly Quad[]): boolean {
  if (quads.length === 0) return width >= height;
  const tallest = Math.max(...quads.map((q) => quadSize(q).height));
  const centres = quads.map((q) => (q[0][1] + q[1][1] + q[2][1] + q[3][1]) / 4).sort((a, b) => a - b);
  const middle = centres[Math.floor(centres.length / 2)]!;
  const oneRow = centres.every((c) => Math.abs(c - middle) <= 0.5 * tallest);
  if (!oneRow) return false;
  // One row that fills the image's height, or an image too low for anything but one line.
  return height <= 2.5 * tallest || (height <= ONE_LINE_MAX_HEIGHT && width >= 3 * height);
}
