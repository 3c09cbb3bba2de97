/**
 * The SVG of `ocr recognize --annotate`, laid out as the Web UI (web/) shows a page: each box
 * outlined over the page and, in a panel to its right, each line's text at its box's place. The text
 * is never drawn over the page's own, where it would be hard to read.
 */

import type { Line, Point } from '../gen/ocr/v1/ocr.js';

/** CJK-capable fonts first: the recognizer reads Chinese, and sans-serif alone often lacks it. */
export const ANNOTATION_FONTS = "'Noto Sans CJK SC', 'WenQuanYi Micro Hei', sans-serif";
const COLOUR = '#e6194b';
const INK = '#1b1b1b';
const DIVIDER = '#999999';
/** Lines read with less confidence are underlined, dotted, as the Web UI marks them (web/app.js, LOW_CONFIDENCE). */
export const LOW_CONFIDENCE = 0.8;
/** Type as tall as in the Web UI: 0.8 of its box's height. */
const TYPE_HEIGHT = 0.8;
/** East Asian wide and fullwidth characters (and emoji), one em wide; others are taken as 0.6 em. */
const WIDE =
  /[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1FAFF}\u{20000}-\u{3FFFD}]/u;

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

/**
 * A text's width in ems, estimated: librsvg cannot fit text to a length (it ignores textLength), so
 * the type size comes from this, generous for Latin text in most fonts.
 */
export function textEms(text: string): number {
  let ems = 0;
  for (const character of text) ems += WIDE.test(character) ? 1 : 0.6;
  return ems;
}

const num = (value: number): string => String(Math.round(value * 10) / 10 + 0);

function bounds(box: readonly Point[]): { left: number; top: number; width: number; height: number } {
  const xs = box.map((p) => p.x);
  const ys = box.map((p) => p.y);
  const left = Math.min(...xs);
  const top = Math.min(...ys);
  return { left, top, width: Math.max(...xs) - left, height: Math.max(...ys) - top };
}

/** A dotted line under a text `length` long from (x, baseline), in the boxes' colour: the Web UI's mark of a line read with little confidence. */
function doubtMark(x: number, baseline: number, fontSize: number, length: number): string {
  const thickness = Math.max(1, fontSize / 12);
  const y = num(baseline + 2 * thickness);
  return `<line x1="${num(x)}" y1="${y}" x2="${num(x + length)}" y2="${y}" stroke="${COLOUR}" stroke-width="${num(thickness)}" stroke-dasharray="${num(thickness)}"/>`;
}

/**
 * A line's text in the panel: at its box's place, as tall as the Web UI sets it, smaller where the box
 * is too narrow for it; underlined, dotted, where read with less than LOW_CONFIDENCE, as the Web UI
 * marks it (drawn without, the lines to check were not told from the others).
 */
function panelText(line: Line, pageWidth: number): string {
  const { left, top, width, height } = bounds(line.box);
  const fontSize = Math.max(1, Math.min(TYPE_HEIGHT * height, width / textEms(line.text)));
  // The baseline that centres CJK type (ascent about 0.85 em) on the box's middle.
  const baseline = top + height / 2 + 0.35 * fontSize;
  const x = pageWidth + Math.max(0, left);
  const text = `<text x="${num(x)}" y="${num(baseline)}" font-size="${num(fontSize)}">${escapeXml(line.text)}</text>`;
  if (line.confidence >= LOW_CONFIDENCE) return text;
  return text + doubtMark(x, baseline, fontSize, Math.min(width, fontSize * textEms(line.text)));
}

/**
 * An SVG of 2·width × height: over its left half (the image, at its oriented size) the boxes; its
 * right half a white panel with the text. Lines with fewer than three corners have no place and are
 * left out.
 */
export function annotationSvg(width: number, height: number, lines: readonly Line[]): string {
  // Outlines a few pixels wide whatever the image's resolution.
  const stroke = Math.max(1, Math.round(Math.min(width, height) / 500));
  const placed = lines.filter((line) => line.box.length >= 3);
  const polygons = placed.map((line) => `<polygon points="${line.box.map((p) => `${num(p.x)},${num(p.y)}`).join(' ')}"/>`);
  const texts = placed.filter((line) => line.text !== '').map((line) => panelText(line, width));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * width}" height="${height}" viewBox="0 0 ${2 * width} ${height}">`,
    `<rect x="${width}" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<line x1="${num(width + stroke / 2)}" y1="0" x2="${num(width + stroke / 2)}" y2="${height}" stroke="${DIVIDER}" stroke-width="${stroke}"/>`,
    `<g fill="none" stroke="${COLOUR}" stroke-width="${stroke}" stroke-linejoin="round">`,
    ...polygons,
    '</g>',
    `<g fill="${INK}" font-family="${ANNOTATION_FONTS}">`,
    ...texts,
    '</g>',
    '</svg>',
  ].join('\n');
}
