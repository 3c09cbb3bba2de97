import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** Small synthetic images for input-handling tests (the accuracy tests use the real sets). */
export async function textImage(text: string, width = 360, height = 48, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="white"/>
    <text x="10" y="${Math.round(height * 0.72)}" font-family="DejaVu Sans, sans-serif" font-size="${Math.round(height * 0.6)}" fill="black">${text}</text>
  </svg>`;
  const img = sharp(Buffer.from(svg));
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 92 }).toBuffer();
}

/** A CJK font first: vertical text is Chinese (CI installs fonts-wqy-microhei). */
const CJK_FONT = 'WenQuanYi Micro Hei, Noto Sans CJK SC, sans-serif';

/** SVG text elements that stack the characters of `text` from (x, y) down, upright, `pitch` ems apart. */
function column(text: string, x: number, y: number, size: number, pitch: number): string {
  return [...text]
    .map((c, i) => `<text x="${x}" y="${Math.round(y + (i + 1) * size * pitch)}" font-family="${CJK_FONT}" font-size="${size}">${c}</text>`)
    .join('');
}

/** One vertical line: the characters of `text` upright, one under another, `pitch` ems apart (PNG). */
export async function verticalTextImage(text: string, size = 40, pitch = 1.05): Promise<Buffer> {
  const width = size + 30;
  const height = Math.round([...text].length * size * pitch + size);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="white"/>${column(text, 15, 0, size, pitch)}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A page of lines across (`rows`, 28 px) with vertical lines (`columns`, 40 px) beside them, a column and a half apart (PNG). */
export async function verticalSign(rows: string[], columns: string[]): Promise<Buffer> {
  const across = rows.map((t, i) => `<text x="40" y="${60 + i * 50}" font-family="${CJK_FONT}" font-size="28">${t}</text>`).join('');
  const down = columns.map((t, i) => column(t, 560 + i * 72, 60 + rows.length * 50, 40, 1.05)).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${640 + columns.length * 72}" height="${rows.length * 50 + 120 + 44 * Math.max(...columns.map((c) => [...c].length))}">
    <rect width="100%" height="100%" fill="white"/>${across}${down}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

export async function solidImage(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .png()
    .toBuffer();
}

/** A valid PNG whose header claims width × height but whose pixel data is tiny (a decompression bomb). */
export async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = await solidImage(16, 16);
  const out = Buffer.from(png);
  // IHDR width/height live at bytes 16..23; its CRC (bytes 29..32) is recomputed so the header is valid.
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

/** A PNG chunk: length, type, data and CRC. */
function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), body.length + 4);
  return out;
}

export interface PngRows {
  width: number;
  height: number;
  /** 0 gray, 2 RGB, 3 palette (8 bits a sample). */
  colorType: 0 | 2 | 3;
  /** The unfiltered pixels, row after row. */
  pixels: Uint8Array;
  /** The filter type of each row, cycled; types over 4 are written as they are (invalid PNGs). */
  filters: number[];
  palette?: Uint8Array;
  /** Rewrites the inflated pixel data before it is deflated (to cut or lengthen it). */
  mangle?: (filtered: Buffer) => Buffer;
}

/** A PNG written by hand, each row with the filter asked for, so that a decoder meets all five. */
export function pngFromRows(spec: PngRows): Buffer {
  const { width, height, colorType, pixels, filters } = spec;
  const bpp = colorType === 2 ? 3 : 1;
  const rowLength = width * bpp;
  const filtered = Buffer.alloc(height * (rowLength + 1));
  for (let y = 0; y < height; y++) {
    const filter = filters[y % filters.length]!;
    filtered[y * (rowLength + 1)] = filter;
    const at = (x: number, row: number): number => (x >= 0 && row >= 0 ? pixels[row * rowLength + x]! : 0);
    for (let x = 0; x < rowLength; x++) {
      const a = at(x - bpp, y),
        b = at(x, y - 1),
        c = at(x - bpp, y - 1);
      const p = a + b - c;
      const paeth =
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter] ?? 0;
      filtered[y * (rowLength + 1) + 1 + x] = (at(x, y) - predictor) & 255;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = colorType;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(spec.palette ? [chunk('PLTE', spec.palette)] : []),
    chunk('IDAT', deflateSync(spec.mangle ? spec.mangle(filtered) : filtered)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Where a JPEG's first segment with `marker` starts (its 0xff) and its length field, walking the segments from SOI. */
function jpegSegment(jpeg: Buffer, marker: number): { at: number; length: number } {
  for (let at = 2; at + 4 <= jpeg.length;) {
    const length = jpeg.readUInt16BE(at + 2);
    if (jpeg[at + 1] === marker) return { at, length };
    at += 2 + length;
  }
  throw new Error(`no segment 0x${marker.toString(16)} in this JPEG`);
}

/** A valid JPEG whose frame header claims width × height but whose scan is tiny (a decompression bomb). */
export async function jpegClaiming(width: number, height: number): Promise<Buffer> {
  const out = Buffer.from(
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#ffffff' } })
      .jpeg()
      .toBuffer(),
  );
  const sof = jpegSegment(out, 0xc0);
  out.writeUInt16BE(height, sof.at + 5);
  out.writeUInt16BE(width, sof.at + 7);
  return out;
}

/**
 * `jpeg` (a baseline file) with its frame header relabelled: another frame marker (0xc5:
 * hierarchical) or sample precision (12 bits), as a sound file of that kind declares it.
 */
export function jpegFrameAs(jpeg: Buffer, frame: { marker?: number; precision?: number }): Buffer {
  const out = Buffer.from(jpeg);
  const sof = jpegSegment(out, 0xc0);
  out[sof.at + 1] = frame.marker ?? 0xc0;
  out[sof.at + 4] = frame.precision ?? 8;
  return out;
}

/**
 * A 16×16 uncompressed TIFF of `samples` samples a pixel, of which `photometric` (1 gray, 2 RGB,
 * 5 CMYK, 8 CIELab) says which are colours: those past them are extra samples (an alpha, spot
 * colours, a scan's other bands). Each sample is `sample.bits` of `sample.format` (1 unsigned,
 * 2 signed integer, 3 floating point), every byte 0x80.
 */
export function samplesTiff(
  samples: number,
  photometric: 1 | 2 | 5 | 8,
  sample: { bits: 8 | 16 | 32; format: 1 | 2 | 3 } = { bits: 8, format: 1 },
): Buffer {
  const side = 16;
  const strip = (side * side * samples * sample.bits) / 8;
  // Width, height, bits, compression (none), photometric, strip offset, samples, rows a strip, strip bytes, sample format.
  const fields: [number, number, number][] = [
    [256, 3, side],
    [257, 3, side],
    [258, 3, sample.bits],
    [259, 3, 1],
    [262, 3, photometric],
    [273, 4, -1],
    [277, 3, samples],
    [278, 3, side],
    [279, 4, strip],
    [339, 3, sample.format],
  ];
  const stripAt = 8 + 2 + 12 * fields.length + 4;
  const out = Buffer.alloc(stripAt + strip, 0x80);
  out.write('II*\0', 0, 'latin1');
  out.writeUInt32LE(8, 4);
  out.writeUInt16LE(fields.length, 8);
  fields.forEach(([tag, type, value], i) => {
    const e = 10 + 12 * i;
    out.writeUInt16LE(tag, e);
    out.writeUInt16LE(type, e + 2);
    out.writeUInt32LE(1, e + 4);
    out.writeUInt32LE(value === -1 ? stripAt : value, e + 8);
  });
  out.writeUInt32LE(0, stripAt - 4); // no next page
  return out;
}

/** A JPEG with its quantisation tables cut out: a sound header and an end, but no decoder can read the scan. */
export function jpegWithoutQuantTables(jpeg: Buffer): Buffer {
  let out = jpeg;
  for (;;) {
    let dqt: { at: number; length: number };
    try {
      dqt = jpegSegment(out, 0xdb);
    } catch {
      return out;
    }
    out = Buffer.concat([out.subarray(0, dqt.at), out.subarray(dqt.at + 2 + dqt.length)]);
  }
}

/**
 * Uncompressed BMP rows of value(x, y) (y from the top): `bits` per value, most significant first,
 * 16 and 32 bits little-endian, 24 bits a 0xRRGGBB written B, G, R; each row padded to 4 bytes,
 * the bottom row first unless topDown.
 */
export function bmpRows(width: number, height: number, bits: number, value: (x: number, y: number) => number, topDown = false): Uint8Array {
  const stride = Math.ceil((width * bits) / 32) * 4;
  const out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const row = (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const v = value(x, y);
      if (bits < 8) out[row + ((x * bits) >> 3)]! |= v << (8 - bits - ((x * bits) & 7));
      else if (bits === 8) out[row + x] = v;
      else if (bits === 16) out.writeUInt16LE(v, row + x * 2);
      else if (bits === 24)
        out.writeUIntLE(v, row + x * 3, 3); // 0xRRGGBB little-endian: B, G, R
      else out.writeUInt32LE(v >>> 0, row + x * 4);
    }
  }
  return out;
}

/**
 * `count` lines of text 1600 px wide, 30 px apart, each numbered at both ends ("7 alpha … lima 7"):
 * with 900 px tiles every line is cut by the border between the two columns, and must be re-read.
 */
export async function cutLinesPage(count: number): Promise<Buffer> {
  const words = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima';
  const rows = Array.from(
    { length: count },
    (_, i) => `<text x="100" y="${40 + i * 30}" font-family="DejaVu Sans, sans-serif" font-size="22">${i} ${words} ${i}</text>`,
  );
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1600" height="${40 + count * 30}">
    <rect width="100%" height="100%" fill="white"/>${rows.join('')}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** The numbers of the lines of cutLinesPage read whole ("7 alpha … lima 7"), in the order given. */
export function wholeCutLines(texts: string[]): number[] {
  return texts.flatMap((text) => {
    const m = /^(\d+) alpha.*lima (\d+)$/.exec(text.replace(/\s+/g, ' ').trim());
    return m && m[1] === m[2] ? [Number(m[1])] : [];
  });
}
