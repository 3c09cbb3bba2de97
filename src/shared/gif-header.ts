import { invalidArgument } from './errors.js';

/**
 * The most frames a GIF may have. The service reads the first frame only, but sharp's GIF reader
 * walks every frame of the file to count them, for its header and again for its decode: a 30 MB
 * GIF of two million 1×1 frames took it 4 s and then 11 s of CPU. Animations that people send
 * have tens or hundreds of frames.
 */
export const MAX_GIF_FRAMES = 1000;

/** At `at`, a run of data sub-blocks (each a length byte and that many bytes) up to its empty one: where it ends. */
function skipSubBlocks(buf: Uint8Array, at: number): number {
  while (at < buf.length && buf[at] !== 0) at += buf[at]! + 1;
  return at + 1;
}

/**
 * The GIF's frames (image descriptors), counted up to `stopAfter + 1` by walking its blocks'
 * length bytes (nothing is decompressed; at worst, 30 MB of 1-byte sub-blocks, 35 ms on the main
 * thread, a sixth of what receiving them costs it); where the blocks end early or are not a GIF's,
 * the count so far: the decoder judges such a file.
 */
export function countGifFrames(buf: Uint8Array, stopAfter = MAX_GIF_FRAMES): number {
  if (buf.length < 13) return 0;
  const flags = buf[10]!;
  let at = 13 + (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0);
  let frames = 0;
  while (at < buf.length && frames <= stopAfter) {
    const block = buf[at]!;
    if (block === 0x2c) {
      frames++;
      const local = buf[at + 9] ?? 0;
      // The descriptor, its colour table, the LZW code size, then the data.
      at = skipSubBlocks(buf, at + 10 + (local & 0x80 ? 3 << ((local & 7) + 1) : 0) + 1);
    } else if (block === 0x21) {
      at = skipSubBlocks(buf, at + 2);
    } else {
      break;
    }
  }
  return frames;
}

/** INVALID_ARGUMENT for a GIF of more than MAX_GIF_FRAMES frames, before any decoder meets it. */
export function checkGifFrames(buf: Uint8Array): void {
  if (countGifFrames(buf) > MAX_GIF_FRAMES) {
    throw invalidArgument(
      `GIF image has more than ${MAX_GIF_FRAMES} frames, this server's limit: only its first frame is read, ` +
        'but the decoder walks them all; send that frame alone (as PNG)',
    );
  }
}
