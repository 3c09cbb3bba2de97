/** The SVG drawn over an image by `ocr recognize --annotate`: each box outlined, its text beside it. */

import type { Line, Point } from '../gen/ocr/v1/ocr.js';

/** CJK-capable fonts first: the recognizer reads Chinese, and sans-serif alone often lacks it. */
export const ANNOTATION_FONTS = "'Noto Sans CJK SC', 'WenQuanYi Micro Hei', sans-serif";
const COLOUR = '#e6194b';
const HALO = '#ffffff';

/**
 * Text made safe for XML content and attribute values. Characters XML 1.0 forbids (most control
 * characters, lone surrogates, U+FFFE/U+FFFF) are dropped: librsvg refuses a document holding one.
 */
export function escapeXml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const num = (value: number): string => String(Math.round(value * 10) / 10 + 0);

function distance(a: Point, b: Point): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

/**
 * One label per line: above the box's top-left corner, else below its bottom-left, else (a box as
 * tall as the image, as --lines-only reports) just inside its top.
 */
function label(line: Line, stroke: number, imageHeight: number): string {
  const [topLeft, , , bottomLeft] = line.box;
  if (!topLeft || !bottomLeft || line.text === '') return '';
  const fontSize = Math.max(10, Math.min(48, distance(topLeft, bottomLeft) * 0.6));
  const gap = stroke + 2;
  const top = Math.min(topLeft.y, bottomLeft.y);
  const bottom = Math.max(topLeft.y, bottomLeft.y);
  let y = top + gap + fontSize;
  if (top - gap - fontSize >= 0) y = top - gap;
  else if (bottom + gap + fontSize <= imageHeight) y = bottom + gap + fontSize;
  return (
    `<text x="${num(Math.max(0, topLeft.x))}" y="${num(y)}" font-size="${num(fontSize)}" ` +
    `stroke-width="${num(fontSize / 6)}">${escapeXml(line.text)}</text>`
  );
}

/** An SVG of exactly width × height (the image's oriented size) to composite over the image. */
export function overlaySvg(width: number, height: number, lines: readonly Line[]): string {
  // Outlines a few pixels wide whatever the image's resolution.
  const stroke = Math.max(1, Math.round(Math.min(width, height) / 500));
  const polygons = lines
    .filter((line) => line.box.length >= 3)
    .map((line) => `<polygon points="${line.box.map((p) => `${num(p.x)},${num(p.y)}`).join(' ')}"/>`);
  const labels = lines.map((line) => label(line, stroke, height)).filter((text) => text !== '');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<g fill="none" stroke="${COLOUR}" stroke-width="${stroke}" stroke-linejoin="round">`,
    ...polygons,
    '</g>',
    // A white halo under each glyph (paint-order) keeps the text legible on any background.
    `<g fill="${COLOUR}" stroke="${HALO}" paint-order="stroke" font-family="${ANNOTATION_FONTS}">`,
    ...labels,
    '</g>',
    '</svg>',
  ].join('\n');
}
