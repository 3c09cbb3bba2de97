/** `ocr recognize --annotate DIR`: the input image with its boxes and text drawn on, as PNG. */

import path from 'node:path';
import sharp from 'sharp';

import type { Line } from '../gen/ocr/v1/ocr.js';
import { OcrError } from '../shared/errors.js';
import { overlaySvg } from './svg-overlay.js';

/** `<dir>/<basename>.annotated.png`; the basename keeps its extension so a.jpg and a.png stay apart. */
export function annotatedPath(dir: string, file: string): string {
  return path.join(dir, `${path.basename(file)}.annotated.png`);
}

/**
 * Draws the lines over the image as the server saw it (EXIF orientation applied), which is the
 * frame their boxes are in. The caller creates the directory.
 */
export async function writeAnnotated(image: Uint8Array, lines: readonly Line[], outPath: string): Promise<void> {
  // The image was already accepted by the server; no pixel limit here either.
  const input = { pages: 1, limitInputPixels: false } as const;
  try {
    const { width, height } = (await sharp(image, input).metadata()).autoOrient;
    await sharp(image, input)
      .rotate()
      .composite([{ input: Buffer.from(overlaySvg(width, height, lines)), top: 0, left: 0, limitInputPixels: false }])
      .png()
      .toFile(outPath);
  } catch (err) {
    throw new OcrError('INTERNAL', `read the image but could not write ${outPath}: ${(err as Error).message}`);
  }
}
