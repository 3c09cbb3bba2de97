import type { RawImage } from './types.js';

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
