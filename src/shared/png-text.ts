import { PNG_SIGNATURE } from './image-format.js';

/** The chunk types of a PNG's text, as big-endian integers: tEXt, zTXt (deflated) and iTXt (deflated or not). */
const TEXT_CHUNKS = new Set([0x74455874, 0x7a545874, 0x69545874]);
const IEND = 0x49454e44;

/**
 * A PNG without its text chunks, which neither the server's decode nor the SDK's tiling has use
 * for; the same bytes where it has none, or is not a PNG. libpng inflates every zTXt and iTXt (up
 * to 8 MB each, up to a thousand of them) and libvips keeps them all: a 684 KB PNG of a hundred
 * 7 MB comments took 2 GB of memory to decode, a few MB of them would take all a process has. The
 * chunks are walked by their length fields, without a copy where none is dropped (2.7 million
 * chunks: about 20 ms); where the walk leaves the file, the rest is kept as it is, for the decoder
 * to judge.
 */
export function withoutPngText(buf: Uint8Array): Uint8Array {
  if (buf.length < 8 || PNG_SIGNATURE.some((b, i) => buf[i] !== b)) return buf;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const kept: Uint8Array[] = [];
  let from = 0;
  for (let at = 8; at + 12 <= buf.length;) {
    const end = at + 12 + view.getUint32(at);
    const type = view.getUint32(at + 4);
    if (TEXT_CHUNKS.has(type)) {
      kept.push(buf.subarray(from, at));
      from = Math.min(end, buf.length);
    }
    if (type === IEND) break;
    at = end;
  }
  if (kept.length === 0) return buf;
  kept.push(buf.subarray(from));
  return Buffer.concat(kept);
}
