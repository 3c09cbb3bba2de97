/** `ocr recognize --annotate DIR`: the input image with its boxes drawn on and its text beside it, as PNG. */

import { statSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

import type { Line } from '../gen/ocr/v1/ocr.js';
import { OcrError } from '../shared/errors.js';
import { makeDirectories } from '../shared/make-directories.js';
import { STDIN } from './read-input.js';
import { annotationSvg } from './svg-overlay.js';
import { uprightPage } from './upright-page.js';

/** The names of image and drawing files (SVG, PDF too): an --annotate directory not yet made under such a name was meant as the drawing's own file. */
const DRAWING_NAME = /\.(png|jpe?g|webp|tiff?|gif|bmp|svg|pdf)$/i;

/** Makes `dir` and its parents where missing; throws a message naming --annotate where it cannot (Node's alone read "EEXIST: file already exists, mkdir"). */
export function makeAnnotateDir(dir: string): void {
  // `--annotate out.png` made a directory out.png, the drawing inside it, and said nothing.
  if (DRAWING_NAME.test(dir) && statSync(dir, { throwIfNoEntry: false }) === undefined) {
    throw new Error(
      `--annotate ${dir}: names a directory, to which each image is drawn as <image>.annotated.png, not the drawing itself; name a directory (made where missing), such as ${path.join(path.dirname(dir), 'annotated')}`,
    );
  }
  try {
    makeDirectories(dir);
  } catch (err) {
    const { code, message, path: failed } = err as NodeJS.ErrnoException;
    const why =
      code === 'EEXIST'
        ? 'it is a file, not a directory'
        : code === 'ENOTDIR'
          ? 'a part of its path is a file, not a directory'
          : code === 'ENOENT' && failed !== undefined
            ? `no directory can be made in ${path.dirname(failed)}`
            : message;
    throw new Error(`--annotate ${dir}: ${why}; name a directory (made where missing)`, { cause: err });
  }
}

/**
 * Throws where two inputs would be drawn to one file of `dir` (a/scan.jpg and b/scan.jpg): the
 * later would overwrite the earlier without a word, the two written at once.
 */
export function checkAnnotatedPaths(dir: string, files: readonly string[]): void {
  const drawnFrom = new Map<string, string>();
  for (const file of files) {
    const drawn = annotatedPath(dir, file);
    const earlier = drawnFrom.get(drawn);
    if (earlier !== undefined && path.resolve(earlier) !== path.resolve(file)) {
      throw new Error(
        `--annotate ${dir}: ${earlier} and ${file} would both be drawn to ${drawn}; annotate them in separate runs, each with a directory of its own`,
      );
    }
    drawnFrom.set(drawn, file);
  }
}

/**
 * `<dir>/<basename>.annotated.png`; the basename keeps its extension so a.jpg and a.png stay apart.
 * Standard input's is `stdin.annotated.png`: one named `-…` would read as an option to the next command.
 */
export function annotatedPath(dir: string, file: string): string {
  return path.join(dir, `${file === STDIN ? 'stdin' : path.basename(file)}.annotated.png`);
}

/**
 * The image as the server saw it (EXIF orientation applied), which is the frame the boxes are in,
 * turned upright where the server found the page turned (`rotation`, degrees clockwise), with the
 * boxes outlined, and to its right a panel as wide with each line's text at its box's place. Drawn
 * as it came, a page turned 90° had its lines set as tall strips of text a pixel or two high. The
 * caller creates the directory.
 */
export async function writeAnnotated(image: Uint8Array, lines: readonly Line[], rotation: number, outPath: string): Promise<void> {
  // The image was already accepted by the server; no pixel limit here either.
  const input = { pages: 1, limitInputPixels: false } as const;
  try {
    const oriented = await sharp(image, input).rotate().raw().toBuffer({ resolveWithObject: true });
    const upright = uprightPage(rotation, oriented.info.width, oriented.info.height);
    const page =
      upright.turn === 0
        ? oriented
        : await sharp(oriented.data, {
            raw: { width: oriented.info.width, height: oriented.info.height, channels: oriented.info.channels },
            limitInputPixels: false,
          })
            .rotate(upright.turn)
            .raw()
            .toBuffer({ resolveWithObject: true });
    const { width, height, channels } = page.info;
    const placed = lines.map((line) => ({ ...line, box: line.box.map(upright.point) }));
    await sharp({ create: { width: 2 * width, height, channels: 3, background: '#ffffff' }, limitInputPixels: false })
      .composite([
        { input: page.data, raw: { width, height, channels }, top: 0, left: 0, limitInputPixels: false },
        { input: Buffer.from(annotationSvg(width, height, placed)), top: 0, left: 0, limitInputPixels: false },
      ])
      .png()
      .toFile(outPath);
  } catch (err) {
    throw new OcrError('INTERNAL', `read the image but could not write ${outPath}: ${(err as Error).message}`);
  }
}
