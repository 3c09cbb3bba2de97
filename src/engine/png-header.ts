/** What a PNG's chunks say before any pixel is inflated. */
export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA. */
  colorType: number;
  /** The chunk types present, in any order. */
  chunks: Set<string>;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The IHDR fields and the chunk types of a PNG, by walking the chunks' length fields (no CRC check,
 * no inflating); null when the bytes are not a well-formed chunk sequence ending in IEND.
 */
export function readPngHeader(buf: Uint8Array): PngHeader | null {
  if (buf.length < 33 || SIGNATURE.some((b, i) => buf[i] !== b)) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const type = (at: number): string => String.fromCharCode(buf[at]!, buf[at + 1]!, buf[at + 2]!, buf[at + 3]!);
  if (view.getUint32(8) !== 13 || type(12) !== 'IHDR') return null;
  const chunks = new Set<string>();
  for (let at = 8; at + 12 <= buf.length; ) {
    const length = view.getUint32(at);
    const t = type(at + 4);
    chunks.add(t);
    at += 12 + length;
    if (t === 'IEND') {
      return { width: view.getUint32(16), height: view.getUint32(20), bitDepth: buf[24]!, colorType: buf[25]!, chunks };
    }
  }
  return null;
}

/**
 * A PNG whose pixels any decoder gives the same: 8-bit gray, RGB or palette, no transparency to
 * flatten, no ICC profile to convert from and no EXIF orientation to apply. Those are what sharp
 * would treat differently from a plain inflate.
 */
export function isPlainPng(header: PngHeader): boolean {
  const { bitDepth, colorType, chunks } = header;
  return bitDepth === 8 && [0, 2, 3].includes(colorType) && !chunks.has('tRNS') && !chunks.has('iCCP') && !chunks.has('eXIf');
}
