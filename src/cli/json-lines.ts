/** `ocr recognize --json`: one JSON object per file and line, in a fixed shape and key order. */

import { isFailure, type FileResult } from './file-result.js';

export function roundTo(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  // + 0 turns -0 into 0, so that a box on the edge never prints as "-0".
  return Math.round(value * scale) / scale + 0;
}

/**
 * JSON with ", " and ": " separators, the layout of the documented example (and of Python's
 * json.dumps), on one line. Non-ASCII text stays as is.
 */
export function toJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(toJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const fields = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${fields.map(([k, v]) => `${JSON.stringify(k)}: ${toJson(v)}`).join(', ')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * {"file", "width", "height", "rotation", "instance", "lines": [{"text", "confidence", "box"}]} or
 * {"file", "error": {"code", "message"}}; confidences to 4 decimals, box corners to 1. "rotation"
 * (how the page was found turned) is absent for an image read as tiles.
 */
export function jsonLine(result: FileResult): string {
  if (isFailure(result)) {
    return toJson({ file: result.file, error: { code: result.error.code, message: result.error.message } });
  }
  return toJson({
    file: result.file,
    width: result.width,
    height: result.height,
    rotation: result.rotation,
    instance: result.instance,
    lines: result.lines.map((line) => ({
      text: line.text,
      confidence: roundTo(line.confidence, 4),
      box: line.box.map((p) => [roundTo(p.x, 1), roundTo(p.y, 1)]),
    })),
  });
}
