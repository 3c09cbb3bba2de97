/**
 * Files that cost a decoder far more than their size (issue 15): each is what an attacker would
 * send, so that tests can show it is refused, or read as what it declares, at once.
 */
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { solidImage } from './images.js';

/**
 * A 31 MB BMP whose 12-byte OS/2 header says 8×8. Read as a Windows header (32-bit fields) its
 * width is 8 + 8·65536 = 524296 and its height 480: decode-bmp decoded it as 251 million 1-bit
 * pixels, whose data it holds. Its 16-bit bit count is 0, which a reader of the header refuses.
 */
export function os2HeaderBmp(): Buffer {
  const stride = Math.ceil(524296 / 32) * 4;
  const out = Buffer.alloc(34 + stride * 480);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(34, 10);
  out.writeUInt32LE(12, 14);
  out.writeUInt16LE(8, 18);
  out.writeUInt16LE(8, 20);
  out.writeUInt16LE(480, 22);
  out.writeUInt16LE(0, 24);
  out.writeUInt16LE(1, 28); // where a 40-byte header's bit count is
  out.writeUInt32LE(2, 46); // and its colour count
  return out;
}

/** A sound 8×8 1-bit OS/2 BMP followed by `trailing` bytes that are no part of it. */
export function os2BmpWithTrailer(trailing = 31_000_000): Buffer {
  const out = Buffer.alloc(14 + 12 + 6 + 8 * 4 + trailing, 0xff);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(32, 10);
  out.writeUInt32LE(12, 14);
  out.writeUInt16LE(8, 18);
  out.writeUInt16LE(8, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt16LE(1, 24);
  out.fill(0, 26, 29); // colour 0 black, colour 1 white (0xff)
  out.fill(0xaa, 32, 64); // rows of white, black, white…
  return out;
}

/** Where each scan of a JPEG starts (its SOS marker) and ends (the next marker that is not RSTn). */
function jpegScans(jpeg: Buffer): { start: number; end: number; spectralStart: number }[] {
  const scans: { start: number; end: number; spectralStart: number }[] = [];
  for (let at = jpeg.indexOf(Buffer.from([0xff, 0xda])); at >= 0; at = jpeg.indexOf(Buffer.from([0xff, 0xda]), at + 2)) {
    let end = at + 2 + jpeg.readUInt16BE(at + 2);
    while (!(jpeg[end] === 0xff && jpeg[end + 1] !== 0 && !(jpeg[end + 1]! >= 0xd0 && jpeg[end + 1]! <= 0xd7))) end++;
    scans.push({ start: at, end, spectralStart: jpeg[at + 5 + 2 * jpeg[at + 4]!]! });
  }
  return scans;
}

/**
 * A 344×344 progressive JPEG (within MOZJPEG_MAX_PIXELS) whose last AC scan is repeated `repeats`
 * times: libjpeg refuses the progression, but MozJPEG's WebAssembly decoded 900,000 repeats (30 MB)
 * for about 30 s.
 */
export async function repeatedScanJpeg(repeats = 900_000, chromaSubsampling = '4:2:0'): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 344, height: 344, channels: 3, background: '#8a6' } })
    .jpeg({ progressive: true, quality: 90, chromaSubsampling })
    .toBuffer();
  const ac = jpegScans(jpeg)
    .filter((s) => s.spectralStart > 0)
    .at(-1)!;
  const scan = jpeg.subarray(ac.start, ac.end);
  const out = Buffer.alloc(jpeg.length + scan.length * repeats);
  jpeg.copy(out, 0, 0, ac.end);
  for (let i = 0, at = ac.end; i < repeats; i++, at += scan.length) scan.copy(out, at);
  jpeg.copy(out, ac.end + scan.length * repeats, ac.end);
  return out;
}

/** A small JPEG with `count` empty COM segments before its frame header. */
export async function manySegmentJpeg(count: number): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#fff' } })
    .jpeg()
    .toBuffer();
  const comments = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i++) comments.writeUInt32BE(0xfffe0002, i * 4);
  return Buffer.concat([jpeg.subarray(0, 2), comments, jpeg.subarray(2)]);
}

/** A 16×16 PNG with `count` empty ancillary chunks after its IHDR (2.7 million stalled a thread 1.3 s). */
export async function manyChunkPng(count: number): Promise<Buffer> {
  const png = await solidImage(16, 16);
  const empty = Buffer.alloc(12);
  empty.write('teSt', 4, 'latin1');
  empty.writeUInt32BE(crc32(Buffer.from('teSt', 'latin1')), 8);
  const chunks = Buffer.alloc(count * 12);
  for (let i = 0; i < count; i++) empty.copy(chunks, i * 12);
  return Buffer.concat([png.subarray(0, 33), chunks, png.subarray(33)]);
}

/** A lossless WebP of about 1.4 KB that decodes to 6000×6000 pixels. */
export function webpBomb(): Promise<Buffer> {
  return sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#fff' } })
    .webp({ lossless: true })
    .toBuffer();
}

/** An 8×8 animated WebP of `frames` frames, each a 1×1 lossless image (50 bytes a frame). */
export async function manyFrameWebp(frames: number): Promise<Buffer> {
  const still = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } })
    .webp({ lossless: true })
    .toBuffer();
  const chunk = (type: string, data: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.write(type, 0, 'latin1');
    head.writeUInt32LE(data.length, 4);
    return Buffer.concat([head, data, Buffer.alloc(data.length & 1)]);
  };
  const uint24 = (n: number): Buffer => Buffer.from([n & 0xff, (n >> 8) & 0xff, n >> 16]);
  // VP8X with the animation flag, canvas 8×8 (stored minus one); ANIM: background, loop count.
  const vp8x = chunk('VP8X', Buffer.concat([Buffer.from([0x02, 0, 0, 0]), uint24(7), uint24(7)]));
  const anim = chunk('ANIM', Buffer.alloc(6));
  // ANMF: x, y, width - 1, height - 1, duration, flags, then the still image's VP8L chunk.
  const frame = chunk('ANMF', Buffer.concat([Buffer.alloc(12), uint24(1).subarray(0, 3), Buffer.alloc(1), still.subarray(12)]));
  const body = Buffer.concat([Buffer.from('WEBP', 'latin1'), vp8x, anim, ...Array.from({ length: frames }, () => frame)]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

/** An 8×8 GIF of `frames` frames, each a 1×1 image (15 bytes a frame). */
export function manyFrameGif(frames: number): Buffer {
  const head = Buffer.from([...Buffer.from('GIF89a', 'latin1'), 8, 0, 8, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
  // An image descriptor (at 0,0, 1×1, no colour table), LZW code size 2, one 2-byte sub-block, its end.
  const frame = Buffer.from([0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4c, 0x01, 0]);
  return Buffer.concat([head, ...Array.from({ length: frames }, () => frame), Buffer.from(';', 'latin1')]);
}

/**
 * A little-endian TIFF of `pages` 8×8 gray pages, each a directory of nine entries that all share
 * one strip, and `unknownTags` more entries of private tags (65000 down), which libtiff registers
 * one by one (about 50 µs each).
 */
export function manyPageTiff(pages: number, unknownTags = 0): Buffer {
  // Width, height, bits, compression (none), photometric (black is zero), strip offset, samples, rows a strip, strip bytes.
  const known: [number, number, number][] = [
    [256, 3, 8],
    [257, 3, 8],
    [258, 3, 8],
    [259, 3, 1],
    [262, 3, 1],
    [273, 4, -1],
    [277, 3, 1],
    [278, 3, 8],
    [279, 4, 64],
  ];
  // Entries in ascending tag order, as TIFF requires.
  const fields = [...known, ...Array.from({ length: unknownTags }, (_, i): [number, number, number] => [65000 - unknownTags + i, 3, 1])];
  const size = 2 + 12 * fields.length + 4;
  const strip = 8 + size * pages;
  const out = Buffer.alloc(strip + 64, 0xff);
  out.write('II*\0', 0, 'latin1');
  out.writeUInt32LE(8, 4);
  for (let page = 0, at = 8; page < pages; page++, at += size) {
    out.writeUInt16LE(fields.length, at);
    fields.forEach(([tag, type, value], i) => {
      const e = at + 2 + 12 * i;
      out.writeUInt16LE(tag, e);
      out.writeUInt16LE(type, e + 2);
      out.writeUInt32LE(1, e + 4);
      out.writeUInt32LE(value === -1 ? strip : value, e + 8);
    });
    out.writeUInt32LE(page < pages - 1 ? at + size : 0, at + 2 + 12 * fields.length);
  }
  return out;
}

/**
 * A 344×344 RGB TIFF whose one strip is repeatedScanJpeg's JPEG (JPEG compression; libtiff wants
 * RGB unsubsampled): libtiff's JPEG codec only warns of the repeated scans, and sharp decoded
 * 50,000 of them (600 KB) for 3 s.
 */
export async function repeatedScanJpegTiff(repeats: number): Promise<Buffer> {
  const jpeg = await repeatedScanJpeg(repeats, '4:4:4');
  // Width, height, bits (at bitsAt), compression (JPEG), photometric (RGB), strip offset, samples, rows a strip, strip bytes, planar.
  const fields: [number, number, number, number][] = [
    [256, 3, 1, 344],
    [257, 3, 1, 344],
    [258, 3, 3, -1],
    [259, 3, 1, 7],
    [262, 3, 1, 2],
    [273, 4, 1, -2],
    [277, 3, 1, 3],
    [278, 3, 1, 344],
    [279, 4, 1, jpeg.length],
    [284, 3, 1, 1],
  ];
  const bitsAt = 8 + 2 + 12 * fields.length + 4;
  const stripAt = bitsAt + 6;
  const head = Buffer.alloc(stripAt);
  head.write('II*\0', 0, 'latin1');
  head.writeUInt32LE(8, 4);
  head.writeUInt16LE(fields.length, 8);
  fields.forEach(([tag, type, count, value], i) => {
    const e = 10 + 12 * i;
    head.writeUInt16LE(tag, e);
    head.writeUInt16LE(type, e + 2);
    head.writeUInt32LE(count, e + 4);
    head.writeUInt32LE(value === -1 ? bitsAt : value === -2 ? stripAt : value, e + 8);
  });
  for (let i = 0; i < 3; i++) head.writeUInt16LE(8, bitsAt + 2 * i);
  return Buffer.concat([head, jpeg]);
}

/**
 * manyPageTiff's 8×8 white page with its strip's offset past the end of the file: libtiff fails
 * to read the strip, which sharp, failing only on truncation, decoded as black.
 */
export function strayStripTiff(): Buffer {
  const tiff = manyPageTiff(1);
  // The sixth entry, StripOffsets: its value.
  tiff.writeUInt32LE(1_000_000, 8 + 2 + 12 * 5 + 8);
  return tiff;
}

/** A PNG chunk of `type` holding `data`, with its CRC. */
function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

/**
 * A 16×16 PNG (or `png`) with `count` zTXt comments of 7 MB each (7 KB deflated) after its IHDR:
 * libpng inflates every one, up to its bound of 8 MB a chunk and a thousand chunks, and libvips
 * keeps them, 2 GB for a hundred.
 */
export async function commentFloodPng(count: number, png?: Buffer): Promise<Buffer> {
  png ??= await solidImage(16, 16);
  const comment = pngChunk('zTXt', Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), deflateSync(Buffer.alloc(7_000_000, 0x41))]));
  return Buffer.concat([png.subarray(0, 33), ...Array.from({ length: count }, () => comment), png.subarray(33)]);
}

/**
 * A 64×64 PNG padded with `megabytes` private chunks of 1 MB (which decoders skip), and, with
 * `exifAndText`, an empty eXIf chunk and a short comment: the probe then reads its header through
 * sharp, having dropped the comment into a copy of nearly the whole file (SharpInput).
 */
export async function paddedPng(megabytes: number, exifAndText: boolean): Promise<Buffer> {
  const png = await solidImage(64, 64);
  // Big-endian TIFF header, an IFD of no entries, no next IFD.
  const exif = Buffer.from([0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0]);
  const marked = exifAndText ? [pngChunk('eXIf', exif), pngChunk('tEXt', Buffer.from('Comment\0padded', 'latin1'))] : [];
  const pad = pngChunk('prVt', Buffer.alloc(1024 * 1024, 0x55));
  return Buffer.concat([png.subarray(0, 33), ...marked, ...Array.from({ length: megabytes }, () => pad), png.subarray(33)]);
}
