/** `ocr recognize` without --json: a listing a person reads. */

import type { FileFailure, FileSuccess } from './file-result.js';

/** A header naming the file and its size, then one indented row per line: confidence, then text. */
export function listing(result: FileSuccess): string {
  const count = `${result.lines.length} line${result.lines.length === 1 ? '' : 's'}`;
  const rows = result.lines.map((line) => `  ${line.confidence.toFixed(3)}  ${line.text}`);
  const turned = result.rotation ? `, turned ${result.rotation}°` : '';
  const header = `${result.file}  (${result.width}x${result.height}${turned}, ${count}, instance ${result.instance})`;
  // A blank line after each file keeps files apart when their text runs long.
  return `${[header, ...rows].join('\n')}\n\n`;
}

/** One line a failure, so that a script counts and greps them by line. */
export function failureLine(result: FileFailure): string {
  const message = result.error.message.trim().replace(/\s*\n\s*/g, '; ');
  return `${result.file}: ${result.error.code}: ${message}\n`;
}
