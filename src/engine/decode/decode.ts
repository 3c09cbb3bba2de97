import type { Metadata, SharpOptions } from 'sharp';
import { corruptImage } from '../../shared/corrupt-image.js';
import { invalidArgument, resourceExhausted } from '../../shared/errors.js';
import { decodeBmp, readBmpHeader } from '../../shared/bmp-decoder.js';
import { checkJpegScans, isPlainJpeg, readJpegHeader } from '../../shared/jpeg-header.js';
import { isPlainPng, readPngHeader, readPngSize } from './png-header.js';
import { checkChannels } from '../../shared/extra-channels.js';
import { checkSampleDepth } from '../../shared/sample-depth.js';
import { sharpInputOf, type SharpInput } from './sharp-input.js';
import { sniffFormat, type ImageFormat } from '../../shared/image-format.js';
import { decodableFormat } from '../../shared/decodable-format.js';
import { loadSharp } from '../../shared/load-sharp.js';
import { sharpReason } from '../../shared/sharp-reason.js';
import { SHARP_FAIL_ON } from '../../shared/sharp-fail-on.js';
import type { RawImage } from '../types.js';

export interface DecodeLimits {
  /** Images whose header claims more pixels are refused before their pixels are decoded. */
  maxPixels: number;
  /** Smaller images cannot hold readable text. */
  minSide: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxPixels: 40_000_000, minSide: 8 };

function checkSize(width: number, height: number, limits: DecodeLimits): void {
  if (!(width > 0 && height > 0)) throw invalidArgument(`image header declares an empty size ${width}×${height}`);
  if (width * height > limits.maxPixels) {
    throw resourceExhausted(
      `image is ${width}×${height} = ${width * height} pixels, over this server's limit of ${limits.maxPixels}; ` +
        'scale it down or send it as tiles (RecognizeTiles)',
    );
  }
  if (width < limits.minSide || height < limits.minSide) {
    throw invalidArgument(`image is ${width}×${height} pixels; text needs at least ${limits.minSide} pixels on each side`);
  }
}

/** A BMP, its size checked on the header that decodeBmp reads, before any pixel is allocated. */
function decodeBmpImage(buf: Uint8Array, limits: DecodeLimits): RawImage {
  const { width, height } = readBmpHeader(buf);
  checkSize(width, height, limits);
  return decodeBmp(buf);
}

async function decodeWithSharp(input: SharpInput, format: ImageFormat, limits: DecodeLimits): Promise<RawImage> {
  // sharp checks limitInputPixels on the header, before it decodes any pixel.
  const options: SharpOptions = { failOn: SHARP_FAIL_ON, limitInputPixels: limits.maxPixels, pages: 1 };
  const sharp = await loadSharp();
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    decoded = await sharp(input.forSharp(format), options)
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw await explainFailure(input, format, limits, err as Error);
  }
  const { data, info } = decoded;
  checkSize(info.width, info.height, limits);
  if (info.channels !== 3) throw await explainFailure(input, format, limits, new Error(`it decoded to ${info.channels} channels, not RGB`));
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
}

/**
 * Why sharp refused an image, from its header alone (read again only on this path: one call fewer
 * for every good image): more pixels than allowed, too small, channels or samples it does not read,
 * or corrupt.
 */
async function explainFailure(input: SharpInput, format: ImageFormat, limits: DecodeLimits, err: Error): Promise<Error> {
  let meta: Metadata;
  try {
    meta = await headerMetadata(input, format);
  } catch (headerErr) {
    return headerErr as Error;
  }
  try {
    checkSize(meta.width ?? 0, meta.pageHeight ?? meta.height ?? 0, limits);
  } catch (sizeErr) {
    return sizeErr as Error;
  }
  return corruptImage(format, sharpReason(err));
}

/**
 * sharp's reading of a header (in libuv's pool); INVALID_ARGUMENT where it cannot read one, or
 * where the image has channels or samples that the decode does not read (checkChannels,
 * checkSampleDepth).
 */
async function headerMetadata(input: SharpInput, format: ImageFormat): Promise<Metadata> {
  const sharp = await loadSharp();
  let meta: Metadata;
  try {
    // Every channel counted, that checkChannels may say how many there are.
    meta = await sharp(input.forSharp(format), {
      failOn: SHARP_FAIL_ON,
      pages: 1,
      limitInputPixels: false,
      limitInputChannels: false,
    }).metadata();
  } catch (err) {
    throw corruptImage(format, sharpReason(err as Error), false);
  }
  checkChannels(meta, format);
  checkSampleDepth(meta, format);
  return meta;
}

/**
 * Encoded bytes → upright RGB pixels (EXIF orientation applied, alpha flattened on white, first
 * frame of animations). Every failure is an OcrError that names what is wrong with the input.
 * A SharpInput that probeImage has read keeps the PNG text it dropped, which is not dropped again.
 */
export async function decodeImage(
  encoded: Uint8Array | SharpInput,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): Promise<{ image: RawImage; format: ImageFormat }> {
  const input = sharpInputOf(encoded);
  const format = decodableFormat(input.file);
  const image = format === 'bmp' ? decodeBmpImage(input.file, limits) : await decodeWithSharp(input, format, limits);
  return { image, format };
}

/** The formats whose plain files a worker decodes itself (decodePlainPng, decodePlainJpeg). */
export type PlainFormat = 'png' | 'jpeg';

/**
 * The largest JPEG that decodePlainJpeg takes. Its WebAssembly has no SIMD: past about this size
 * sharp's native decoder costs less CPU despite its fixed cost (measured at three line sizes:
 * docs/BENCHMARKS.md, MozJPEG under "Tried and kept" and "Tried and rejected").
 */
export const MOZJPEG_MAX_PIXELS = 120_000;

/**
 * A PNG or JPEG that decodePlainPng or decodePlainJpeg reads exactly as decodeImage would
 * (isPlainPng, isPlainJpeg; a JPEG of up to MOZJPEG_MAX_PIXELS), with its size checked against the
 * limits as decodeImage checks it (and throwing the same errors); null for any other bytes, which
 * go through decodeImage.
 */
export function plainImageSize(buf: Uint8Array, limits: DecodeLimits): { format: PlainFormat; width: number; height: number } | null {
  const format = sniffFormat(buf);
  if (format === 'jpeg') checkJpegScans(buf);
  const png = format === 'png' ? readPngHeader(buf) : null;
  const jpeg = format === 'jpeg' ? readJpegHeader(buf) : null;
  const header = png && isPlainPng(png) ? png : jpeg && isPlainJpeg(jpeg) ? jpeg : null;
  if (!header) return null;
  checkSize(header.width, header.height, limits);
  if (format === 'jpeg' && header.width * header.height > MOZJPEG_MAX_PIXELS) return null;
  return { format: format as PlainFormat, width: header.width, height: header.height };
}

export interface ImageProbe {
  format: ImageFormat;
  /** The size decodeImage decodes the image to: upright, the first frame or page. */
  width: number;
  height: number;
}

/**
 * What decodeImage will decode the bytes to, from their headers alone, for admitting a request by
 * its cost before any pixel is decoded; it throws the errors decodeImage throws for empty bytes,
 * an unknown format, a JPEG of a kind its decoder does not read, a size outside the limits, a file
 * of too many scans, frames or pages, or a corrupt BMP or header.
 * The main thread reads only headers here, and scans whole files only natively (indexOf), but for
 * the chunks of a PNG that sharp reads, walked by their length fields (withoutPngText: 20 ms for
 * 32 MB of empty chunks, a tenth of what receiving them costs): sharp reads the other headers in
 * libuv's pool.
 */
export async function probeImage(encoded: Uint8Array | SharpInput, limits: DecodeLimits): Promise<ImageProbe> {
  const input = sharpInputOf(encoded);
  const format = decodableFormat(input.file);
  const { width, height } = await decodedSize(input, format);
  checkSize(width, height, limits);
  return { format, width, height };
}

/**
 * The upright size decodeImage gives: from the readers here where they know it (a BMP; a JPEG's
 * frame, or a PNG's IHDR, when there is no EXIF orientation whose quarter turns, 5–8, would swap
 * the sides as decodeImage's rotate() does), otherwise from sharp's reading of the header.
 */
async function decodedSize(input: SharpInput, format: ImageFormat): Promise<{ width: number; height: number }> {
  const buf = input.file;
  if (format === 'bmp') return readBmpHeader(buf);
  if (format === 'jpeg') {
    const header = readJpegHeader(buf);
    if (header && !header.exif && header.height > 0) return header;
  }
  // A PNG's orientation is in an eXIf chunk, looked for natively: a chance match only costs sharp's reading.
  const png = format === 'png' ? readPngSize(buf) : null;
  if (png && Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).indexOf('eXIf') < 0) return png;
  return (await headerMetadata(input, format)).autoOrient;
}
