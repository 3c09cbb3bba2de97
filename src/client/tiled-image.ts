/**
 * An image decoded once on the client and cut into tiles for RecognizeTiles. The pixels are what the
 * server would make of the whole file (EXIF orientation applied, first frame, alpha on white, 8-bit
 * sRGB), and tiles go out as PNG so they arrive exactly as cut.
 */

import sharp from 'sharp';

import { invalidArgument } from '../shared/errors.js';
import type { Rect } from '../shared/quad.js';

const CHANNELS = 3;

export class TiledImage {
  private constructor(
    private readonly pixels: Buffer,
    /** Size after EXIF orientation: the frame the server's boxes are in. */
    readonly width: number,
    readonly height: number,
  ) {}

  /** Decodes an encoded image; an unreadable one is an INVALID_ARGUMENT OcrError. */
  static async decode(image: Uint8Array): Promise<TiledImage> {
    if (image.length === 0) throw invalidArgument('image is empty');
    try {
      // Decoding once beats re-decoding the whole file for every tile. No pixel limit: images too
      // large for one request are what tiling is for, and the file is the caller's own.
      const { data, info } = await sharp(image, { pages: 1, limitInputPixels: false, failOn: 'truncated' })
        .rotate()
        .flatten({ background: '#ffffff' })
        .toColourspace('srgb')
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      if (info.channels !== CHANNELS) throw new Error(`unexpected ${info.channels} channels after conversion`);
      return new TiledImage(data, info.width, info.height);
    } catch (err) {
      throw invalidArgument(`cannot read the image to cut it into tiles: ${(err as Error).message}`);
    }
  }

  /** The PNG bytes of one rectangle of the (oriented) image. */
  async encodeTile(rect: Rect): Promise<Buffer> {
    return sharp(this.pixels, { raw: { width: this.width, height: this.height, channels: CHANNELS } })
      .extract({ left: rect.x, top: rect.y, width: rect.width, height: rect.height })
      // Tiles are sent once and dropped: spend little CPU on compression.
      .png({ compressionLevel: 1 })
      .toBuffer();
  }
}
