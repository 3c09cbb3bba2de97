import { invalidArgument } from './errors.js';
import { checkGifFrames } from './gif-header.js';
import { sniffFormat, type ImageFormat } from './image-format.js';
import { checkJpegProcess, checkJpegScans, readJpegHeader } from './jpeg-header.js';
import { EMPTY_IMAGE, notAnImage } from './not-an-image.js';
import { checkTiffJpegScans, checkTiffPages } from './tiff-header.js';
import { checkWebpChunks } from './webp-header.js';

/**
 * The container of the bytes; INVALID_ARGUMENT for empty bytes, none of the formats read here, a
 * JPEG of a kind its decoder does not read, or a file whose scans, frames or pages would cost its
 * decoder far more than its pixels (checked on their length fields, before any decoder meets it).
 * The engine and the SDK's tiling both ask it first, so that each refuses such a file alike.
 */
export function decodableFormat(buf: Uint8Array): ImageFormat {
  if (buf.length === 0) throw invalidArgument(EMPTY_IMAGE);
  const format = sniffFormat(buf);
  if (!format) throw invalidArgument(notAnImage('image', buf));
  if (format === 'jpeg') {
    checkJpegScans(buf);
    checkJpegProcess(readJpegHeader(buf));
  } else if (format === 'gif') {
    checkGifFrames(buf);
  } else if (format === 'webp') {
    checkWebpChunks(buf);
  } else if (format === 'tiff') {
    checkTiffPages(buf);
    checkTiffJpegScans(buf);
  }
  return format;
}
