/**
 * Decoding of plain PNGs (isPlainPng: 8-bit gray, RGB or palette, not interlaced, nothing to
 * flatten or convert) in the calling thread: node's zlib inflates, the rows are unfiltered in place
 * and written out as RGB. For small images sharp's fixed cost dominates, and pngjs goes through an
 * RGBA bitmap that is then copied again: for a development line image this takes less CPU than
 * either (docs/BENCHMARKS.md, "Tried and kept"). Lossless, so the pixels are sharp's.
 */
import { crc32, inflateSync } from 'node:zlib';
import { corruptImage } from '../../shared/corrupt-image.js';
import { isPlainPng, pngHeaderOf, readPngChunks } from './png-header.js';
import type { RawImage } from '../types.js';

const corrupt = (why: string): Error => corruptImage('PNG', why);

/** Chunks whose corruption would change the pixels: their CRCs are checked. */
const CRITICAL = new Set(['IHDR', 'PLTE', 'IDAT']);

/** The pixels of a PNG that isPlainPng passed, as RGB; INVALID_ARGUMENT for a corrupt one. */
export function decodePlainPng(buf: Uint8Array): RawImage {
  const chunks = readPngChunks(buf);
  const header = chunks ? pngHeaderOf(chunks) : null;
  if (!chunks || !header || !isPlainPng(header)) throw corrupt('not a plain 8-bit PNG');
  const { width, height, colorType } = header;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const idat: Uint8Array[] = [];
  let palette: Uint8Array | null = null;
  for (const chunk of chunks) {
    if (!CRITICAL.has(chunk.type)) continue;
    const end = chunk.at + 8 + chunk.data.length;
    if (crc32(buf.subarray(chunk.at + 4, end)) !== view.getUint32(end)) throw corrupt(`CRC mismatch in its ${chunk.type} chunk`);
    if (chunk.type === 'IDAT') idat.push(chunk.data);
    else if (chunk.type === 'PLTE') palette = chunk.data;
  }
  if (colorType === 3 && !palette) throw corrupt('a palette image without a PLTE chunk');

  const bpp = colorType === 2 ? 3 : 1;
  const rowLength = width * bpp;
  const expected = height * (rowLength + 1);
  let raw: Buffer;
  try {
    // maxOutputLength: a stream that inflates past the declared size is refused as it inflates.
    raw = inflateSync(idat.length === 1 ? idat[0]! : Buffer.concat(idat), { maxOutputLength: expected });
  } catch (err) {
    const tooLong = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    throw corrupt(tooLong ? `its pixel data inflates past the ${expected} bytes its size needs` : (err as Error).message);
  }
  if (raw.length !== expected) throw corrupt(`${raw.length} bytes of pixel data where its size needs ${expected}`);
  unfilter(raw, height, rowLength, bpp);
  return { data: toRgb(raw, width, height, colorType, palette), width, height, channels: 3 };
}

/** Undoes the PNG row filters (None, Sub, Up, Average, Paeth) in place: rows of 1 + rowLength bytes. */
export function unfilter(raw: Uint8Array, height: number, rowLength: number, bpp: number): void {
  const stride = rowLength + 1;
  for (let y = 0; y < height; y++) {
    const filter = raw[y * stride]!;
    const s = y * stride + 1;
    // The row above; the first row has none, which the filters read as zeros.
    const p = s - stride;
    const hasUp = y > 0;
    switch (filter) {
      case 0:
        break;
      case 1:
        for (let i = bpp; i < rowLength; i++) raw[s + i] = raw[s + i]! + raw[s + i - bpp]!;
        break;
      case 2:
        if (hasUp) for (let i = 0; i < rowLength; i++) raw[s + i] = raw[s + i]! + raw[p + i]!;
        break;
      case 3:
        for (let i = 0; i < rowLength; i++) {
          const left = i >= bpp ? raw[s + i - bpp]! : 0;
          const up = hasUp ? raw[p + i]! : 0;
          raw[s + i] = raw[s + i]! + ((left + up) >> 1);
        }
        break;
      case 4:
        for (let i = 0; i < rowLength; i++) {
          const a = i >= bpp ? raw[s + i - bpp]! : 0;
          const b = hasUp ? raw[p + i]! : 0;
          const c = i >= bpp && hasUp ? raw[p + i - bpp]! : 0;
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          raw[s + i] = raw[s + i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        break;
      default:
        throw corrupt(`row ${y} has filter type ${filter}, which PNG does not define`);
    }
  }
}

/** Unfiltered rows (each after its filter byte) as RGB: copied, gray replicated, or looked up in the palette. */
function toRgb(raw: Uint8Array, width: number, height: number, colorType: number, palette: Uint8Array | null): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  if (colorType === 2) {
    const rowLength = width * 3;
    for (let y = 0; y < height; y++) out.set(raw.subarray(y * (rowLength + 1) + 1, (y + 1) * (rowLength + 1)), y * rowLength);
    return out;
  }
  const colours = palette ? Math.floor(palette.length / 3) : 256;
  for (let y = 0, k = 0; y < height; y++) {
    for (let x = 0, i = y * (width + 1) + 1; x < width; x++, i++, k += 3) {
      const v = raw[i]!;
      if (!palette) {
        out[k] = out[k + 1] = out[k + 2] = v;
      } else {
        if (v >= colours) throw corrupt(`pixel (${x}, ${y}) uses colour ${v} of a ${colours}-colour palette`);
        out[k] = palette[v * 3]!;
        out[k + 1] = palette[v * 3 + 1]!;
        out[k + 2] = palette[v * 3 + 2]!;
      }
    }
  }
  return out;
}
