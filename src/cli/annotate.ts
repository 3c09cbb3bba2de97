/** `ocr recognize --annotate DIR`: the input image with its boxes drawn on and its text beside it, as PNG. */

import path from 'node:path';
import sharp from 'sharp';

import type { Line } from '../gen/ocr/v1/ocr.js';
import { OcrError } from '../shared/errors.js';
import { annotationSvg } from './svg-overlay.js';

/** `<dir>/<basename>.annotated.png`; the basename keeps its extension so a.jpg and a.png stay apart. */
export function annotatedPath(dir: string, file: string): string {
  return path.join(dir, `${path.basename(file)}.annotated.png`);
}

/**
 * The image as the server saw it (EXIF orientation applied), which is the frame the boxes are in,
 * with the boxes outlined, and to its right a panel as wide with each line's text at its box's
 * place. The caller creates the directory.
 */
export async function writeAnnotated(image: Uint8Array, lines: readonly Line[], outPath: string): Promise<void> {
  // The image was already accepted by the server; no pixel limit here either.
  const input = { pages: 1, limitInputPixels: false } as const;
  try {
    const page = await sharp(image, input).rotate().raw().toBuffer({ resolveWithObject: true });
    const { width, height, channels } = page.info;
    await sharp({ create: { width: 2 * width, height, channels: 3, background: '#ffffff' }, limitInputPixels: false })
      .composite([
        { input: page.data, raw: { width, height, channels }, top: 0, left: 0, limitInputPixels: false },
        { input: Buffer.from(annotationSvg(width, height, lines)), top: 0, left: 0, limitInputPixels: false },
      ])
      .png()
      .toFile(outPath);
  } catch (err) {
    throw new OcrError('INTERNAL', `read the image but could not write ${outPath}: ${(err as Error).message}`);
  }
}
