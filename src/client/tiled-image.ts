/**
 * An image decoded once on the client and cut into tiles for RecognizeTiles. The pixels are what the
 * server would make of the whole file (EXIF orientation applied, first frame, alpha on white, 8-bit
 * sRGB), and tiles go out as PNG so they arrive exactly as cut.
 */

import { decodeBmp } from '../shared/bmp-decoder.js';
import { OcrError } from '../shared/errors.js';
import { corruptImage } from '../shared/corrupt-image.js';
import { decodableFormat } from '../shared/decodable-format.js';
import { sharpReason } from '../shared/sharp-reason.js';
import { SHARP_FAIL_ON } from '../shared/sharp-fail-on.js';
import { withoutPngText } from '../shared/png-text.js';
import { checkChannels } from '../shared/extra-channels.js';
import { checkSampleDepth } from '../shared/sample-depth.js';
import { checkImageBytes } from './image-bytes.js';
import { loadSharp, type Sharp } from '../shared/load-sharp.js';
import { quadSize, type Quad, type Rect } from '../shared/quad.js';
import { DEFAULT_TILE_OVERLAP, planTiles } from '../shared/tiling.js';
import { tilesRefusal } from './errors.js';

const CHANNELS = 3;

/** sharp is an optional dependency of the SDK package: only tiling needs it, and says so when it is missing. */
const sharpForTiling = (): Promise<Sharp> =>
  loadSharp().catch((err: unknown) => {
    throw new Error(`tiling needs the optional package sharp: install it beside the SDK; ${(err as Error).message}`, { cause: err });
  });

export class TiledImage {
  private constructor(
    private readonly sharp: Sharp,
    private readonly pixels: Buffer,
    /** Size after EXIF orientation: the frame the server's boxes are in. */
    readonly width: number,
    readonly height: number,
  ) {}

  /**
   * Decodes an encoded image; an unreadable one, or one whose decoder work the server bounds from its
   * headers (GIF frames, TIFF pages, JPEG scans…), is refused as the server refuses it sent whole: an
   * INVALID_ARGUMENT OcrCallError in the server's words. Rejects with a plain Error that says to
   * install sharp when it is missing.
   */
  static async decode(image: Uint8Array): Promise<TiledImage> {
    return TiledImage.read(image).catch((err: unknown) => {
      throw tilesRefusal(err);
    });
  }

  /** The tiles of `tileSize` (overlapping by `overlap`) that cover the image; bad sizes are INVALID_ARGUMENT OcrCallErrors. */
  tiles(tileSize: number, overlap = DEFAULT_TILE_OVERLAP): Rect[] {
    try {
      return planTiles(this.width, this.height, tileSize, overlap);
    } catch (err) {
      throw tilesRefusal(err);
    }
  }

  private static async read(image: Uint8Array): Promise<TiledImage> {
    // Only what the server reads: sharp alone would also render an SVG (a 120-byte one can ask for
    // 30000×30000 pixels, and no pixel limit applies here) or decode an AVIF that the server refuses,
    // and walk all 100,000 frames of a GIF or pages of a TIFF for the first one's sake.
    const format = decodableFormat(checkImageBytes(image, 'image'));
    const sharp = await sharpForTiling();
    if (format === 'bmp') {
      // libvips reads no BMP: decoded as the engine decodes one (upright as stored, alpha on white).
      const { data, width, height } = decodeBmp(image);
      return new TiledImage(sharp, Buffer.from(data.buffer, data.byteOffset, data.byteLength), width, height);
    }
    const input = withoutPngText(image);
    // Decoding once beats re-decoding the whole file for every tile. No pixel limit: images too
    // large for one request are what tiling is for, and the file is the caller's own.
    const options = { pages: 1, limitInputPixels: false, failOn: SHARP_FAIL_ON } as const;
    let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
    try {
      // Channels and samples the server refuses, refused here in its words, rather than cut into
      // tiles of what libvips makes of them (a float gray scan of 0 to 1 decodes black).
      const meta = await sharp(input, { ...options, limitInputChannels: false }).metadata();
      checkChannels(meta, format);
      checkSampleDepth(meta, format);
      decoded = await sharp(input, options)
        .rotate()
        .flatten({ background: '#ffffff' })
        .toColourspace('srgb')
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
    } catch (err) {
      if (err instanceof OcrError) throw err;
      // In the server's words for the same bytes sent whole: libvips' own may be another image's (sharpReason).
      throw corruptImage(format, sharpReason(err as Error));
    }
    const { data, info } = decoded;
    if (info.channels !== CHANNELS) throw new Error(`unexpected ${info.channels} channels after conversion`);
    return new TiledImage(sharp, data, info.width, info.height);
  }

  /** The PNG bytes of one rectangle of the (oriented) image. */
  async encodeTile(rect: Rect): Promise<Buffer> {
    return (
      this.sharp(this.pixels, { raw: { width: this.width, height: this.height, channels: CHANNELS } })
        .extract({ left: rect.x, top: rect.y, width: rect.width, height: rect.height })
        // Tiles are sent once and dropped: spend little CPU on compression.
        .png({ compressionLevel: 1 })
        .toBuffer()
    );
  }

  /**
   * The PNG of a (slightly rotated) quad, turned upright: what the recognizer reads when a line
   * that tile borders cut is re-read whole. The rotation is about the quad's own centre.
   */
  async encodeUpright(quad: Quad): Promise<Buffer> {
    const xs = quad.map((p) => p[0]);
    const ys = quad.map((p) => p[1]);
    const left = Math.max(0, Math.floor(Math.min(...xs)));
    const top = Math.max(0, Math.floor(Math.min(...ys)));
    const right = Math.min(this.width, Math.ceil(Math.max(...xs)));
    const bottom = Math.min(this.height, Math.ceil(Math.max(...ys)));
    const box = { left, top, width: Math.max(1, right - left), height: Math.max(1, bottom - top) };
    const [tl, tr] = quad;
    const angle = Math.atan2(tr[1] - tl[1], tr[0] - tl[0]);
    const size = quadSize(quad);
    const cut = this.sharp(this.pixels, { raw: { width: this.width, height: this.height, channels: CHANNELS } }).extract(box);
    if (Math.abs(angle) < 1e-3) return cut.png({ compressionLevel: 1 }).toBuffer();
    // sharp turns clockwise for positive degrees and grows the canvas about its centre: the quad's
    // centre lands at the new centre plus its offset from the old one, turned by -angle.
    const { data, info } = await cut
      .rotate((-angle * 180) / Math.PI, { background: '#ffffff' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const cx = quad.reduce((a, p) => a + p[0], 0) / 4 - (box.left + box.width / 2);
    const cy = quad.reduce((a, p) => a + p[1], 0) / 4 - (box.top + box.height / 2);
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const mx = info.width / 2 + cx * c + cy * s;
    const my = info.height / 2 - cx * s + cy * c;
    const w = Math.min(info.width, Math.max(1, Math.round(size.width)));
    const h = Math.min(info.height, Math.max(1, Math.round(size.height)));
    const x = Math.min(info.width - w, Math.max(0, Math.round(mx - w / 2)));
    const y = Math.min(info.height - h, Math.max(0, Math.round(my - h / 2)));
    return this.sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
      .extract({ left: x, top: y, width: w, height: h })
      .png({ compressionLevel: 1 })
      .toBuffer();
  }
}
