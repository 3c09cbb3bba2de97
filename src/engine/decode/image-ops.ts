import type { RawImage } from '../types.js';

/** Turn an image upside down (a line the classifier found rotated by 180°). */
export function rotate180(image: RawImage): RawImage {
  const { width, height, channels } = image;
  const out = new Uint8Array(image.data.length);
  const pixels = width * height;
  for (let i = 0; i < pixels; i++) {
    const src = i * channels;
    const dst = (pixels - 1 - i) * channels;
    for (let c = 0; c < channels; c++) out[dst + c] = image.data[src + c]!;
  }
  return { data: out, width, height, channels };
}

/** An RGBA bitmap, as the decoders written in JavaScript or WebAssembly give them, as RGB: its alpha dropped. */
export function rgbFromRgba(rgba: { data: Uint8Array | Uint8ClampedArray; width: number; height: number }): RawImage {
  const { data, width, height } = rgba;
  const pixels = width * height;
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0, j = 0; i < pixels; i++, j += 4) {
    rgb[i * 3] = data[j]!;
    rgb[i * 3 + 1] = data[j + 1]!;
    rgb[i * 3 + 2] = data[j + 2]!;
  }
  return { data: rgb, width, height, channels: 3 };
}
