/** The size of an encoded image, for `--lines-only`, whose responses do not carry one. */

import sharp from 'sharp';

import { readBmpHeader } from '../engine/decode/bmp-decoder.js';
import { sniffFormat } from '../engine/decode/decode.js';
import { invalidArgument } from '../shared/errors.js';

export interface Size {
  width: number;
  height: number;
}

/** Width and height after EXIF orientation, as the server reports them; INVALID_ARGUMENT if unreadable. */
export async function imageSize(image: Uint8Array): Promise<Size> {
  // BMP, which the server reads but sharp does not: read by the server's own header reader.
  if (sniffFormat(image) === 'bmp') {
    const { width, height } = readBmpHeader(image);
    return { width, height };
  }
  try {
    const { width, height } = (await sharp(image, { pages: 1 }).metadata()).autoOrient;
    return { width, height };
  } catch (err) {
    throw invalidArgument(`not an image this client can read: ${(err as Error).message}`);
  }
}
