/**
 * Perspective crop of one text quad into an upright line image at the recognizer's height, in one
 * pass (PaddleOCR warps to the quad's own size and then resizes; sampling once avoids the double
 * interpolation and the intermediate image).
 */

import { quadSize } from '../detect/geometry.js';
import type { Point, Quad, RawImage } from '../types.js';

/**
 * Row-major 3×3 homography taking the rectangle (0,0)-(w,h) to the quad: (0,0)→q0, (w,0)→q1,
 * (w,h)→q2, (0,h)→q3. Heckbert's closed-form unit-square-to-quad mapping, then scaled by 1/w, 1/h.
 */
export function homographyFromRect(w: number, h: number, quad: Quad): number[] {
  const [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = quad;
  const sx = x0 - x1 + x2 - x3;
  const sy = y0 - y1 + y2 - y3;
  let g = 0;
  let k = 0;
  if (sx !== 0 || sy !== 0) {
    const dx1 = x1 - x2,
      dx2 = x3 - x2,
      dy1 = y1 - y2,
      dy2 = y3 - y2;
    const den = dx1 * dy2 - dx2 * dy1;
    // A degenerate (collinear) quad has no projective solution; fall back to the affine part.
    if (den !== 0) {
      g = (sx * dy2 - dx2 * sy) / den;
      k = (dx1 * sy - sx * dy1) / den;
    }
  }
  const a = x1 - x0 + g * x1,
    b = x3 - x0 + k * x3,
    c = x0;
  const d = y1 - y0 + g * y1,
    e = y3 - y0 + k * y3,
    f = y0;
  return [a / w, b / h, c, d / w, e / h, f, g / w, k / h, 1];
}

/**
 * `quad` grown across its line by `scale` (1.1: 5 % of its thickness added on each side), along its
 * shorter sides, so that a vertical line is thickened, not lengthened. Corners keep their order.
 */
export function thickenQuad(quad: Quad, scale: number): Quad {
  if (scale === 1) return quad;
  const [tl, tr, br, bl] = quad;
  const { width, height } = quadSize(quad);
  const k = (scale - 1) / 2;
  const away = (p: Point, from: Point): Point => [p[0] + (p[0] - from[0]) * k, p[1] + (p[1] - from[1]) * k];
  // Across a line runs from its top to its bottom; across a vertical line, from its left to its right.
  return height <= width
    ? [away(tl, bl), away(tr, br), away(br, tr), away(bl, tl)]
    : [away(tl, tr), away(tr, tl), away(br, bl), away(bl, br)];
}

/** Maps a point through a row-major homography. */
export function applyHomography(m: readonly number[], x: number, y: number): Point {
  const z = m[6]! * x + m[7]! * y + m[8]!;
  return [(m[0]! * x + m[1]! * y + m[2]!) / z, (m[3]! * x + m[4]! * y + m[5]!) / z];
}

/**
 * Crop `quad` (tl, tr, br, bl in image pixel coordinates, pixel centres at integers) to an upright
 * 3-channel image `outHeight` tall and round(outHeight · width/height) wide, clamped to
 * [1, maxOutWidth]. Quads at least 1.5× taller than wide are treated as vertical text and turned
 * 90° counter-clockwise first, as PaddleOCR's get_rotate_crop_image does with np.rot90.
 * Sampling is bilinear with edge-clamped borders; when shrinking by more than 1.5× each output
 * pixel averages up to 4×4 samples so thin strokes do not alias away.
 */
export function cropQuad(image: RawImage, quad: Quad, outHeight: number, maxOutWidth: number): RawImage {
  const outH = Math.max(1, Math.round(outHeight));
  let q: Quad = quad;
  let { width: qw, height: qh } = quadSize(quad);
  // PaddleOCR decides on the int()-truncated crop size.
  const iw = Math.trunc(qw);
  const ih = Math.trunc(qh);
  if (iw > 0 ? ih / iw >= 1.5 : ih > 0) {
    // rot90 CCW of the upright crop: its top-left was the quad's top-right, and so on.
    q = [quad[1], quad[2], quad[3], quad[0]];
    [qw, qh] = [qh, qw];
  }
  const ratio = qh > 0 ? qw / qh : qw > 0 ? Infinity : 1;
  const outW = Math.max(1, Math.min(Math.floor(maxOutWidth), Math.round(outH * ratio)));

  const m = homographyFromRect(outW, outH, q);
  const nx = supersamples(qw / outW);
  const ny = supersamples(qh / outH);
  const out = new Uint8Array(outW * outH * 3);
  if (isAxisAligned(m)) sampleAxisAligned(image, m, outW, outH, nx, ny, out);
  else sample(image, m, outW, outH, nx, ny, out);
  return { data: out, width: outW, height: outH, channels: 3 };
}

function supersamples(scale: number): number {
  return scale > 1.5 ? Math.min(4, Math.ceil(scale)) : 1;
}

/** x depends on the output column alone and y on the row alone: no rotation, shear or perspective. */
export function isAxisAligned(m: readonly number[]): boolean {
  return m[1] === 0 && m[3] === 0 && m[6] === 0 && m[7] === 0 && m[8] === 1;
}

/**
 * sample() for an axis-aligned homography (isAxisAligned): whole line images and upright boxes,
 * most crops. A sample's x depends on its column alone and its y on its row alone, so each column's
 * and each row's source taps are found once, and nothing is divided, which makes it the cheaper
 * of the two (docs/BENCHMARKS.md, "Tried and kept"). The positions are stepped and the samples
 * summed in sample()'s order, so the pixels are the same to the bit. The blend is written out in
 * both loops: a helper shared by the two made this one markedly slower ("Tried and rejected").
 */
export function sampleAxisAligned(
  image: RawImage,
  m: readonly number[],
  outW: number,
  outH: number,
  nx: number,
  ny: number,
  out: Uint8Array,
): void {
  const { data, width: iw, height: ih, channels: ch } = image;
  const maxX = iw - 1;
  const maxY = ih - 1;
  const stride = iw * ch;
  const single = nx * ny === 1;
  const inv = 1 / (nx * ny);
  // Per sub-column sx and column u (at sx * outW + u): the left neighbour's offset in a row, the
  // step to the right one, the right one's weight.
  const left = new Int32Array(nx * outW);
  const right = new Int32Array(nx * outW);
  const fxs = new Float64Array(nx * outW);
  for (let sx = 0, k = 0; sx < nx; sx++) {
    let X = m[0]! * ((sx + 0.5) * (1 / nx)) + m[2]!;
    for (let u = 0; u < outW; u++, k++) {
      let x = X;
      X += m[0]!;
      if (!(x > 0)) x = 0;
      else if (x > maxX) x = maxX;
      const x0 = x | 0;
      left[k] = x0 * ch;
      right[k] = x0 < maxX ? ch : 0;
      fxs[k] = x - x0;
    }
  }
  const acc = new Float64Array(single ? 0 : outW * 3);
  for (let v = 0; v < outH; v++) {
    const rowOut = v * outW * 3;
    if (!single) acc.fill(0);
    for (let sy = 0; sy < ny; sy++) {
      let y = m[4]! * (v + (sy + 0.5) / ny) + m[5]!;
      if (!(y > 0)) y = 0;
      else if (y > maxY) y = maxY;
      const y0 = y | 0;
      const fy = y - y0;
      const top = y0 * stride;
      const down = y0 < maxY ? stride : 0;
      for (let sx = 0; sx < nx; sx++) {
        for (let u = 0, k = sx * outW, a = 0; u < outW; u++, k++, a += 3) {
          const fx = fxs[k]!;
          const i00 = top + left[k]!;
          const i01 = i00 + right[k]!;
          const i10 = i00 + down;
          const i11 = i10 + right[k]!;
          const w11 = fx * fy;
          const w10 = fy - w11;
          const w01 = fx - w11;
          const w00 = 1 - fx - fy + w11;
          const r = data[i00]! * w00 + data[i01]! * w01 + data[i10]! * w10 + data[i11]! * w11;
          let g = r;
          let b = r;
          if (ch === 3) {
            g = data[i00 + 1]! * w00 + data[i01 + 1]! * w01 + data[i10 + 1]! * w10 + data[i11 + 1]! * w11;
            b = data[i00 + 2]! * w00 + data[i01 + 2]! * w01 + data[i10 + 2]! * w10 + data[i11 + 2]! * w11;
          }
          if (single) {
            out[rowOut + a] = r + 0.5;
            out[rowOut + a + 1] = g + 0.5;
            out[rowOut + a + 2] = b + 0.5;
          } else {
            acc[a] += r;
            acc[a + 1] += g;
            acc[a + 2] += b;
          }
        }
      }
    }
    if (!single) for (let a = 0; a < outW * 3; a++) out[rowOut + a] = acc[a]! * inv + 0.5;
  }
}

/**
 * Fills `out` (outW×outH×3). For each output pixel, nx×ny samples on a regular grid inside it are
 * mapped through the homography and bilinearly interpolated, then averaged. The projective
 * numerators and denominator are linear along a row, so they are stepped rather than recomputed.
 */
export function sample(image: RawImage, m: readonly number[], outW: number, outH: number, nx: number, ny: number, out: Uint8Array): void {
  const { data, width: iw, height: ih, channels: ch } = image;
  const m0 = m[0]!,
    m1 = m[1]!,
    m2 = m[2]!,
    m3 = m[3]!,
    m4 = m[4]!,
    m5 = m[5]!,
    m6 = m[6]!,
    m7 = m[7]!,
    m8 = m[8]!;
  const maxX = iw - 1;
  const maxY = ih - 1;
  const stride = iw * ch;
  const inv = 1 / (nx * ny);
  const step = 1 / nx;
  // One sample per pixel writes straight to `out`; supersampling accumulates a row first.
  const single = nx * ny === 1;
  const acc = new Float64Array(single ? 0 : outW * 3);
  for (let v = 0; v < outH; v++) {
    const rowOut = v * outW * 3;
    if (!single) acc.fill(0);
    for (let sy = 0; sy < ny; sy++) {
      const t = v + (sy + 0.5) / ny;
      for (let sx = 0; sx < nx; sx++) {
        // Sample positions u + (sx + 0.5) / nx for u = 0, 1, …: step 1 along the row.
        const s0 = (sx + 0.5) * step;
        let X = m0 * s0 + m1 * t + m2;
        let Y = m3 * s0 + m4 * t + m5;
        let Z = m6 * s0 + m7 * t + m8;
        for (let u = 0, a = 0; u < outW; u++, a += 3) {
          const iz = 1 / Z;
          let x = X * iz;
          let y = Y * iz;
          X += m0;
          Y += m3;
          Z += m6;
          // Edge clamp (also catches NaN from a degenerate quad).
          if (!(x > 0)) x = 0;
          else if (x > maxX) x = maxX;
          if (!(y > 0)) y = 0;
          else if (y > maxY) y = maxY;
          const x0 = x | 0;
          const y0 = y | 0;
          const fx = x - x0;
          const fy = y - y0;
          const i00 = y0 * stride + x0 * ch;
          const i01 = x0 < maxX ? i00 + ch : i00;
          const i10 = y0 < maxY ? i00 + stride : i00;
          const i11 = i10 + (i01 - i00);
          const w11 = fx * fy;
          const w10 = fy - w11;
          const w01 = fx - w11;
          const w00 = 1 - fx - fy + w11;
          const v00 = data[i00]!,
            v01 = data[i01]!,
            v10 = data[i10]!,
            v11 = data[i11]!;
          const r = v00 * w00 + v01 * w01 + v10 * w10 + v11 * w11;
          let g = r;
          let b = r;
          if (ch === 3) {
            g = data[i00 + 1]! * w00 + data[i01 + 1]! * w01 + data[i10 + 1]! * w10 + data[i11 + 1]! * w11;
            b = data[i00 + 2]! * w00 + data[i01 + 2]! * w01 + data[i10 + 2]! * w10 + data[i11 + 2]! * w11;
          }
          if (single) {
            // Uint8Array stores truncate, so +0.5 rounds; values stay within 0..255.
            out[rowOut + a] = r + 0.5;
            out[rowOut + a + 1] = g + 0.5;
            out[rowOut + a + 2] = b + 0.5;
          } else {
            acc[a] += r;
            acc[a + 1] += g;
            acc[a + 2] += b;
          }
        }
      }
    }
    if (!single) for (let a = 0; a < outW * 3; a++) out[rowOut + a] = acc[a]! * inv + 0.5;
  }
}
