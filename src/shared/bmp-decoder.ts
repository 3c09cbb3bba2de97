/**
 * BMP (Windows and OS/2 bitmaps), which libvips cannot read. One header reader serves admission,
 * the CLI and the decoder, so that the size admitted is the size decoded: a second parser that
 * reads the fields differently is how a file declaring 8×8 once decoded as 524296×480. Shared, so
 * that the SDK cuts a BMP into tiles as the engine reads it whole.
 */
import { corruptImage } from './corrupt-image.js';
import { invalidArgument } from './errors.js';

/** RGB pixels, row by row (an engine RawImage; the SDK carries none of the engine's types). */
export interface BmpPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3;
}

const corrupt = (why: string): Error => corruptImage('BMP', why);
const unsupported = (what: string): Error => invalidArgument(`BMP images with ${what} are not supported; convert it to PNG`);

/** Where each channel lies in a 16- or 32-bit pixel; a zero alpha mask means no alpha. */
export interface BmpMasks {
  red: number;
  green: number;
  blue: number;
  alpha: number;
}

/** What a BMP's file and info headers say, checked for consistency, before any pixel is read. */
export interface BmpHeader {
  width: number;
  height: number;
  /** The rows are stored top row first (a negative height); otherwise bottom row first. */
  topDown: boolean;
  bitsPerPixel: 1 | 4 | 8 | 16 | 24 | 32;
  compression: 'none' | 'rle8' | 'rle4';
  /** 16 and 32 bits: the header's BI_BITFIELDS masks, or BI_RGB's fixed ones. */
  masks: BmpMasks | null;
  /** 1 to 8 bits: the colour table as RGB triples. */
  palette: Uint8Array | null;
  /** Where the pixel data starts. */
  dataOffset: number;
}

/** Info header sizes: OS/2 1.x core, Windows 3 info, V2 and V3 (Adobe), OS/2 2.x, V4, V5. */
const HEADER_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);
const BITS = new Set([1, 4, 8, 16, 24, 32]);
const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

/** The header of a BMP (OcrError INVALID_ARGUMENT for one that is corrupt or of a kind not read here). */
export function readBmpHeader(buf: Uint8Array): BmpHeader {
  if (buf.length < 18) throw corrupt(`its ${buf.length} bytes are too few for a header`);
  if (buf[0] !== 0x42 || buf[1] !== 0x4d) throw corrupt("it does not start with 'BM'");
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerSize = view.getUint32(14, true);
  if (!HEADER_SIZES.has(headerSize)) throw unsupported(`a ${headerSize}-byte info header`);
  if (14 + headerSize > buf.length) throw corrupt(`its ${headerSize}-byte info header ends past the end of the ${buf.length}-byte file`);
  // The OS/2 1.x core header holds 16-bit unsigned sizes; all the others 32-bit signed ones.
  const core = headerSize === 12;
  const width = core ? view.getUint16(18, true) : view.getInt32(18, true);
  const storedHeight = core ? view.getUint16(20, true) : view.getInt32(22, true);
  const bits = view.getUint16(core ? 24 : 28, true);
  const code = core ? BI_RGB : view.getUint32(30, true);
  if (width < 0) throw corrupt(`its width is negative (${width})`);

  const compression = compressionOf(code, bits, headerSize);
  const bitsPerPixel = bits as BmpHeader['bitsPerPixel'];
  const topDown = storedHeight < 0;
  if (topDown && compression !== 'none') throw corrupt('its RLE-compressed rows are stored top-down, which BMP does not allow');

  // BI_BITFIELDS masks follow a 40-byte header; larger headers hold them (V2: RGB, V3 on: alpha too).
  const maskCount = code === BI_ALPHABITFIELDS || headerSize >= 56 ? 4 : 3;
  const hasMasks = code === BI_BITFIELDS || code === BI_ALPHABITFIELDS;
  const tablesAt = Math.max(14 + headerSize, hasMasks ? 54 + 4 * maskCount : 0);
  if (tablesAt > buf.length) throw corrupt('its colour masks end past the end of the file');
  const dataOffset = view.getUint32(10, true);
  if (dataOffset < tablesAt) throw corrupt(`its pixel data offset ${dataOffset} lies inside its headers`);

  let masks: BmpMasks | null = null;
  if (hasMasks) {
    const at = (i: number): number => (i < maskCount ? view.getUint32(54 + 4 * i, true) : 0);
    masks = checkMasks({ red: at(0), green: at(1), blue: at(2), alpha: at(3) }, bits);
  } else if (bits === 16) {
    masks = { red: 0x7c00, green: 0x03e0, blue: 0x001f, alpha: 0 };
  } else if (bits === 32) {
    // The fourth byte is reserved in the original format but alpha in many files (see decodeBmp).
    masks = { red: 0xff0000, green: 0xff00, blue: 0xff, alpha: 0xff000000 };
  }
  const palette = bits <= 8 ? readPalette(buf, tablesAt, dataOffset, bits, core ? 0 : view.getUint32(46, true), core ? 3 : 4) : null;
  return { width, height: Math.abs(storedHeight), topDown, bitsPerPixel, compression, masks, palette, dataOffset };
}

/** The pixel encoding that a compression code and bit depth name, or why it is refused. */
function compressionOf(code: number, bits: number, headerSize: number): BmpHeader['compression'] {
  // OS/2 2.x gives codes 3 and 4 other meanings than Windows does.
  if (headerSize === 64 && code === 3) throw unsupported('OS/2 Huffman 1D compression');
  if (headerSize === 64 && code === 4) throw unsupported('OS/2 RLE24 compression');
  if (code === 4) throw unsupported('JPEG-compressed pixels');
  if (code === 5) throw unsupported('PNG-compressed pixels');
  if (![BI_RGB, BI_RLE8, BI_RLE4, BI_BITFIELDS, BI_ALPHABITFIELDS].includes(code)) throw unsupported(`compression type ${code}`);
  if (!BITS.has(bits)) throw unsupported(`${bits}-bit pixels`);
  if (code === BI_RLE8 && bits !== 8) throw corrupt(`it declares RLE8 compression for ${bits}-bit pixels`);
  if (code === BI_RLE4 && bits !== 4) throw corrupt(`it declares RLE4 compression for ${bits}-bit pixels`);
  if ((code === BI_BITFIELDS || code === BI_ALPHABITFIELDS) && bits !== 16 && bits !== 32) {
    throw unsupported(`colour masks on ${bits}-bit pixels`);
  }
  return code === BI_RLE8 ? 'rle8' : code === BI_RLE4 ? 'rle4' : 'none';
}

/** Masks that each cover one run of bits inside the pixel, as the decoder's channel tables assume. */
function checkMasks(masks: BmpMasks, bits: number): BmpMasks {
  for (const mask of Object.values(masks) as number[]) {
    const low = mask >>> trailingZeros(mask);
    if ((bits < 32 && mask >= 2 ** bits) || (low & (low + 1)) !== 0) {
      throw corrupt(`its colour mask 0x${mask.toString(16)} is not one run of bits within a ${bits}-bit pixel`);
    }
  }
  return masks;
}

const trailingZeros = (mask: number): number => (mask === 0 ? 0 : 31 - Math.clz32(mask & -mask));

/**
 * The colour table, as RGB triples: clrUsed entries, or all 2^bits where it is 0. Entries that
 * would overlap the pixel data are not part of it (writers that declare 256 colours but store
 * fewer); an index past the table is then an error when a pixel uses it.
 */
function readPalette(buf: Uint8Array, at: number, dataOffset: number, bits: number, clrUsed: number, entryBytes: 3 | 4): Uint8Array {
  const declared = Math.min(clrUsed || 2 ** bits, 2 ** bits);
  const colours = Math.min(declared, Math.floor((dataOffset - at) / entryBytes));
  if (at + colours * entryBytes > buf.length) throw corrupt('its colour table ends past the end of the file');
  const palette = new Uint8Array(colours * 3);
  for (let i = 0, s = at; i < colours; i++, s += entryBytes) {
    palette[i * 3] = buf[s + 2]!;
    palette[i * 3 + 1] = buf[s + 1]!;
    palette[i * 3 + 2] = buf[s]!;
  }
  return palette;
}

/**
 * The pixels of a BMP as RGB, from readBmpHeader's reading of it, in time proportional to its
 * pixels and bytes; alpha, where a file has any, flattened on white as decodeImage flattens other
 * formats. The caller checks the header's size against its limits first: this allocates it.
 */
export function decodeBmp(buf: Uint8Array): BmpPixels {
  const header = readBmpHeader(buf);
  const { width, height } = header;
  if (width === 0 || height === 0) throw corrupt(`its size is ${width}×${height}`);
  const out = new Uint8Array(width * height * 3);
  if (header.compression === 'none') decodeRows(buf, header, out);
  else decodeRle(buf, header, out);
  return { data: out, width, height, channels: 3 };
}

/** Uncompressed rows, each padded to 4 bytes. */
function decodeRows(buf: Uint8Array, header: BmpHeader, out: Uint8Array): void {
  const { width, height, topDown, bitsPerPixel: bits, masks, palette, dataOffset } = header;
  const stride = Math.ceil((width * bits) / 32) * 4;
  const end = dataOffset + stride * height;
  if (end > buf.length) throw corrupt(`its pixel rows end at byte ${end}, past the end of the ${buf.length}-byte file`);
  const rowAt = (y: number): number => dataOffset + (topDown ? y : height - 1 - y) * stride;
  // Many writers leave the reserved fourth byte of 32-bit pixels zero: alpha that is zero
  // everywhere is taken as no alpha, as browsers do, rather than as a wholly transparent image.
  const alpha = masks !== null && masks.alpha !== 0 && hasAlpha(buf, header, masks.alpha, rowAt);
  const channels = masks && [masks.red, masks.green, masks.blue, alpha ? masks.alpha : 0].map(channelTable);
  for (let y = 0; y < height; y++) {
    const row = buf.subarray(rowAt(y), rowAt(y) + stride);
    const o = y * width * 3;
    if (palette) paletteRow(row, bits, palette, out, o, width, y);
    else if (channels) maskedRow(row, bits, channels, out, o, width);
    else bgrRow(row, out, o, width);
  }
}

/** Whether any pixel has a non-zero alpha under the header's alpha mask. */
function hasAlpha(buf: Uint8Array, header: BmpHeader, alphaMask: number, rowAt: (y: number) => number): boolean {
  const { width, height, bitsPerPixel } = header;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let y = 0; y < height; y++) {
    for (let x = 0, at = rowAt(y); x < width; x++, at += bitsPerPixel / 8) {
      const pixel = bitsPerPixel === 16 ? view.getUint16(at, true) : view.getUint32(at, true);
      if ((pixel & alphaMask) !== 0) return true;
    }
  }
  return false;
}

function bgrRow(row: Uint8Array, out: Uint8Array, o: number, width: number): void {
  for (let x = 0, s = 0; x < width; x++, s += 3, o += 3) {
    out[o] = row[s + 2]!;
    out[o + 1] = row[s + 1]!;
    out[o + 2] = row[s]!;
  }
}

/** Palette indices of 1, 4 or 8 bits, most significant first: a byte at a time, for speed on large 1-bit scans. */
function paletteRow(row: Uint8Array, bits: number, palette: Uint8Array, out: Uint8Array, o: number, width: number, y: number): void {
  const colours = palette.length / 3;
  const mask = (1 << bits) - 1;
  for (let x = 0, s = 0; x < width; s++) {
    const byte = row[s]!;
    for (let shift = 8 - bits; shift >= 0 && x < width; shift -= bits, x++, o += 3) {
      const index = (byte >>> shift) & mask;
      if (index >= colours) throw corrupt(`pixel (${x}, ${y}) uses colour ${index} of a ${colours}-colour table`);
      const p = index * 3;
      out[o] = palette[p]!;
      out[o + 1] = palette[p + 1]!;
      out[o + 2] = palette[p + 2]!;
    }
  }
}

/** One channel of masked pixels: its shift, and a table from its (at most 8) bits to 0–255. */
interface ChannelTable {
  mask: number;
  shift: number;
  scale: Uint8Array;
}

/** A mask's table; channels wider than 8 bits keep their top 8. A zero mask reads as 0. */
function channelTable(mask: number): ChannelTable {
  const width = mask === 0 ? 0 : 32 - Math.clz32(mask >>> trailingZeros(mask));
  const kept = Math.min(width, 8);
  const max = 2 ** kept - 1;
  const scale = new Uint8Array(max + 1);
  for (let v = 0; v <= max; v++) scale[v] = max === 0 ? 0 : Math.round((v * 255) / max);
  return { mask, shift: trailingZeros(mask) + width - kept, scale };
}

/** 16- or 32-bit little-endian pixels through their channel masks; alpha (a fourth table) flattened on white. */
function maskedRow(row: Uint8Array, bits: number, channels: ChannelTable[], out: Uint8Array, o: number, width: number): void {
  const [red, green, blue, alpha] = channels as [ChannelTable, ChannelTable, ChannelTable, ChannelTable];
  const read = (c: ChannelTable, pixel: number): number => c.scale[(pixel & c.mask) >>> c.shift]!;
  for (let x = 0; x < width; x++, o += 3) {
    const s = (x * bits) >>> 3;
    const pixel = bits === 16 ? row[s]! | (row[s + 1]! << 8) : row[s]! | (row[s + 1]! << 8) | (row[s + 2]! << 16) | (row[s + 3]! << 24);
    const a = alpha.mask === 0 ? 255 : read(alpha, pixel);
    out[o] = flatten(read(red, pixel), a);
    out[o + 1] = flatten(read(green, pixel), a);
    out[o + 2] = flatten(read(blue, pixel), a);
  }
}

/** A sample over white, with libvips' integer arithmetic (what sharp's flatten gives for other formats). */
export const flatten = (value: number, alpha: number): number => Math.floor((value * alpha + 255 * (255 - alpha)) / 255);

/**
 * RLE8 or RLE4 data (always bottom-up): runs, literal runs, end of line, delta and end of bitmap.
 * Pixels that the data skips are transparent, so white once flattened. Every command reads at
 * least 2 bytes and writes only pixels inside the image, so the work is bounded by both.
 */
function decodeRle(buf: Uint8Array, header: BmpHeader, out: Uint8Array): void {
  const { width, height, palette, dataOffset } = header;
  const four = header.compression === 'rle4';
  const colours = palette!.length / 3;
  out.fill(255);
  let x = 0;
  let y = 0;
  const put = (index: number): void => {
    if (index >= colours) throw corrupt(`pixel (${x}, ${height - 1 - y}) uses colour ${index} of a ${colours}-colour table`);
    const o = ((height - 1 - y) * width + x++) * 3;
    out[o] = palette![index * 3]!;
    out[o + 1] = palette![index * 3 + 1]!;
    out[o + 2] = palette![index * 3 + 2]!;
  };
  const fits = (count: number): void => {
    if (y >= height || x + count > width)
      throw corrupt(`its RLE data writes ${count} pixels from (${x}, ${height - 1 - y}), outside the image`);
  };
  for (let at = dataOffset; ;) {
    if (at + 2 > buf.length) {
      if (y >= height) return;
      throw corrupt('its RLE data ends before its end-of-bitmap marker');
    }
    const count = buf[at]!;
    const value = buf[at + 1]!;
    at += 2;
    if (count > 0) {
      fits(count);
      for (let i = 0; i < count; i++) put(four ? (i & 1 ? value & 15 : value >>> 4) : value);
    } else if (value === 0) {
      x = 0;
      y++;
    } else if (value === 1) {
      return;
    } else if (value === 2) {
      if (at + 2 > buf.length) throw corrupt('its RLE data ends inside a delta');
      x += buf[at]!;
      y += buf[at + 1]!;
      at += 2;
      if (x > width || y > height) throw corrupt('an RLE delta moves outside the image');
    } else {
      const bytes = four ? Math.ceil(value / 2) : value;
      if (at + bytes > buf.length) throw corrupt('its RLE data ends inside a literal run');
      fits(value);
      for (let i = 0; i < value; i++) put(four ? (i & 1 ? buf[at + (i >>> 1)]! & 15 : buf[at + (i >>> 1)]! >>> 4) : buf[at + i]!);
      at += bytes + (bytes & 1); // literal runs are padded to 16 bits
    }
  }
}
