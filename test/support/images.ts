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

export async function solidImage(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } }).png().toBuffer();
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

function crc32(buf: Uint8Array): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}
