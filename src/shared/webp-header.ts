import { invalidArgument } from './errors.js';

/**
 * The most chunks a WebP may have (an animation has one a frame, a still image one to five). The
 * service reads the first frame only, but libwebp's demuxer, which sharp reads WebP headers with,
 * finds frame n by walking frames 1 to n, and sharp asks for every frame: the work grows with the
 * square of their number. 20,000 frames (1 MB) took 0.8 s to read the header and 0.8 s more to
 * decode; 600,000 (30 MB) held a thread of libuv's pool for minutes, which no deadline stops,
 * and four such calls stopped every other decode on the server.
 */
export const MAX_WEBP_CHUNKS = 1000;

/**
 * The WebP's chunks inside its RIFF container, counted up to `stopAfter + 1` by walking their
 * length fields; where the chunks end early, the count so far: the decoder judges such a file.
 */
export function countWebpChunks(buf: Uint8Array, stopAfter = MAX_WEBP_CHUNKS): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let chunks = 0;
  for (let at = 12; at + 8 <= buf.length && chunks <= stopAfter; chunks++) {
    const size = view.getUint32(at + 4, true);
    // Each chunk's data is padded to an even length.
    at += 8 + size + (size & 1);
  }
  return chunks;
}

/** INVALID_ARGUMENT for a WebP of more than MAX_WEBP_CHUNKS chunks, before any decoder meets it. */
export function checkWebpChunks(buf: Uint8Array): void {
  if (countWebpChunks(buf) > MAX_WEBP_CHUNKS) {
    throw invalidArgument(
      `WebP image has more than ${MAX_WEBP_CHUNKS} chunks (an animation has one a frame), this server's limit: ` +
        'only its first frame is read, but the decoder walks them all; send that frame alone (as PNG or a still WebP)',
    );
  }
}
