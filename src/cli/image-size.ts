/** The size of an encoded image, for `--lines-only`, whose responses do not carry one. */

import sharp from 'sharp';

import { invalidArgument } from '../shared/errors.js';

export interface Size {
  width: number;
  height: number;
}

/** BMP, which the server reads but sharp does not: the size is in the DIB header. */
function bmpSize(image: Uint8Array): Size | null {
  if (image.length < 26 || image[0] !== 0x42 || image[1] !== 0x4d) return null;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  // A 12-byte (OS/2) header holds 16-bit sizes; later ones 32-bit, the height negative when top-down.
  if (view.getUint32(14, true) === 12) return { width: view.getUint16(18, true), height: view.getUint16(20, true) };
  return { width: view.getInt32(18, true), height: Math.abs(view.getInt32(22, true)) };
}

/** Width and height after EXIF orientation, as the server reports them; INVALID_ARGUMENT if unreadable. */
export async function imageSize(image: Uint8Array): Promise<Size> {
  const bmp = bmpSize(image);
  if (bmp) return bmp;
  try {
    const { width, height } = (await sharp(image, { pages: 1 }).metadata()).autoOrient;
    return { width, height };
  } catch (err) {
    throw invalidArgument(`not an image this client can read: ${(err as Error).message}`);
  }
}
