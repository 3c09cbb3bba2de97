import { PNG_SIGNATURE } from '../../shared/image-format.js';
/** What a PNG's chunks say before any pixel is inflated. */
export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA. */
  colorType: number;
  /** 0 none, 1 Adam7. */
  interlace: number;
  /** The chunk types present, in any order. */
  chunks: Set<string>;
}

/** One chunk: its type, where it starts, and its data (a view into the PNG's bytes). */
export interface PngChunk {
  type: string;
  /** Offset of the chunk's length field. */
  at: number;
  data: Uint8Array;
}

/** The eight bytes every PNG starts with. */

/**
 * The most chunks of a PNG that readPngChunks walks. Encoders write a handful of ancillary chunks
 * and IDATs of 8 KB or more (libpng's default), so 1000 chunks hold 8 MB or more of pixel data, far
 * more than the plain images decoded here; a PNG of millions of empty chunks would otherwise hold
 * the thread that walks them far longer than any real file does (docs/BENCHMARKS.md, "Tried and
 * kept"). Past it a PNG is not plain, and goes to sharp.
 */
export const MAX_PNG_CHUNKS = 1000;

/**
 * The chunks of a PNG up to and including IEND, by walking their length fields (no CRC check, no
 * inflating); null when the bytes are not a PNG signature and a well-formed sequence of at most
 * MAX_PNG_CHUNKS chunks that starts with IHDR and ends in IEND.
 */
export function readPngChunks(buf: Uint8Array): PngChunk[] | null {
  if (buf.length < 33 || PNG_SIGNATURE.some((b, i) => buf[i] !== b)) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const chunks: PngChunk[] = [];
  for (let at = 8; at + 12 <= buf.length && chunks.length < MAX_PNG_CHUNKS;) {
    const length = view.getUint32(at);
    if (at + 12 + length > buf.length) return null;
    const type = String.fromCharCode(buf[at + 4]!, buf[at + 5]!, buf[at + 6]!, buf[at + 7]!);
    if (chunks.length === 0 && (type !== 'IHDR' || length !== 13)) return null;
    chunks.push({ type, at, data: buf.subarray(at + 8, at + 8 + length) });
    if (type === 'IEND') return chunks;
    at += 12 + length;
  }
  return null;
}

/**
 * The size in a PNG's IHDR, which must be its first chunk (no other chunk is walked); null when the
 * bytes do not start with a PNG signature and an IHDR.
 */
export function readPngSize(buf: Uint8Array): { width: number; height: number } | null {
  const first = buf.length >= 33 && PNG_SIGNATURE.every((b, i) => buf[i] === b);
  if (!first || String.fromCharCode(...buf.subarray(12, 16)) !== 'IHDR') return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(8) !== 13) return null;
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** The IHDR fields and the chunk types of a PNG (readPngChunks); null where that is null. */
export function readPngHeader(buf: Uint8Array): PngHeader | null {
  const chunks = readPngChunks(buf);
  return chunks && pngHeaderOf(chunks);
}

/** The header that readPngChunks' chunks describe. */
export function pngHeaderOf(chunks: PngChunk[]): PngHeader {
  const ihdr = chunks[0]!.data;
  const view = new DataView(ihdr.buffer, ihdr.byteOffset, ihdr.byteLength);
  return {
    width: view.getUint32(0),
    height: view.getUint32(4),
    bitDepth: ihdr[8]!,
    colorType: ihdr[9]!,
    interlace: ihdr[12]!,
    chunks: new Set(chunks.map((c) => c.type)),
  };
}

/**
 * A PNG whose pixels any decoder gives the same, and that decodePlainPng reads: 8-bit gray, RGB or
 * palette, not interlaced, no transparency to flatten, no ICC profile to convert from and no EXIF
 * orientation to apply. Those are what sharp would treat differently from a plain inflate.
 */
export function isPlainPng(header: PngHeader): boolean {
  const { bitDepth, colorType, interlace, chunks } = header;
  return (
    bitDepth === 8 && [0, 2, 3].includes(colorType) && interlace === 0 && !chunks.has('tRNS') && !chunks.has('iCCP') && !chunks.has('eXIf')
  );
}
