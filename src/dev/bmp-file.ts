/** BMP files written by hand, for the tests and the benchmarks. */

/** A BMP to write (bmpFile): sharp cannot encode BMP, so the tests and benchmarks write every variant by hand. */
export interface BmpSpec {
  width: number;
  height: number;
  bits: number;
  /** 12 (OS/2 1.x core), 40, 52, 56, 64 (OS/2 2.x), 108 or 124; 40 when not given. */
  headerSize?: number;
  /** The info header's compression code (0 when not given); a core header has none. */
  compression?: number;
  /** Rows stored top row first: a negative height. */
  topDown?: boolean;
  /** Colours as RGB triples, stored 3 bytes each after a core header and 4 after the others. */
  palette?: Uint8Array;
  /** Colour masks (R, G, B, A), stored from byte 54: after a 40-byte header, inside larger ones. */
  masks?: number[];
  /** The pixel data as stored: bmpRows, or RLE bytes. */
  data: Uint8Array;
}

export function bmpFile(spec: BmpSpec): Buffer {
  const headerSize = spec.headerSize ?? 40;
  const masks = spec.masks ?? [];
  const colours = (spec.palette?.length ?? 0) / 3;
  const entry = headerSize === 12 ? 3 : 4;
  const tablesAt = Math.max(14 + headerSize, masks.length > 0 ? 54 + 4 * masks.length : 0);
  const dataOffset = tablesAt + colours * entry;
  const out = Buffer.alloc(dataOffset + spec.data.length);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(dataOffset, 10);
  out.writeUInt32LE(headerSize, 14);
  if (headerSize === 12) {
    out.writeUInt16LE(spec.width, 18);
    out.writeUInt16LE(spec.height, 20);
    out.writeUInt16LE(1, 22);
    out.writeUInt16LE(spec.bits, 24);
  } else {
    out.writeInt32LE(spec.width, 18);
    out.writeInt32LE(spec.topDown ? -spec.height : spec.height, 22);
    out.writeUInt16LE(1, 26);
    out.writeUInt16LE(spec.bits, 28);
    out.writeUInt32LE(spec.compression ?? 0, 30);
    out.writeUInt32LE(spec.data.length, 34);
    out.writeUInt32LE(colours, 46);
  }
  masks.forEach((mask, i) => out.writeUInt32LE(mask, 54 + 4 * i));
  for (let i = 0; i < colours; i++) {
    out[tablesAt + i * entry] = spec.palette![i * 3 + 2]!;
    out[tablesAt + i * entry + 1] = spec.palette![i * 3 + 1]!;
    out[tablesAt + i * entry + 2] = spec.palette![i * 3]!;
  }
  out.set(spec.data, dataOffset);
  return out;
}

/**
 * A 1-bit `size`×`size` BMP of alternating stripes of four pixels (a two-colour palette), the
 * largest kind of image per byte that BMP stores uncompressed: 5 MB decode to 120 MB at 6320.
 */
export function stripedOneBitBmp(size: number): Buffer {
  const stride = Math.ceil(size / 32) * 4;
  const data = Buffer.alloc(stride * size);
  for (let y = 0; y < size; y++) data.fill(y % 2 ? 0xf0 : 0x0f, y * stride, y * stride + size / 8);
  return bmpFile({ width: size, height: size, bits: 1, palette: Uint8Array.from([10, 20, 30, 240, 250, 255]), data });
}
