/**
 * Files that cost a decoder far more than their size (issue 15): each is what an attacker would
 * send, so that tests can show it is refused, or read as what it declares, at once.
 */

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
