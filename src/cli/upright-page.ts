/**
 * The upright page of an image the server found turned (an answer's `rotation`: 0, 90, 180 or 270
 * degrees clockwise): its size, where each point of the image lies on it, and the clockwise turn
 * (sharp's rotate) that makes the image upright. The Web UI places its lines by the same rule
 * (web/app.js, uprightPage).
 */
import type { Point } from '../gen/ocr/v1/ocr.js';

export interface UprightPage {
  width: number;
  height: number;
  /** Degrees clockwise that turn the image upright. */
  turn: number;
  point: (p: Point) => Point;
}

export function uprightPage(rotation: number, width: number, height: number): UprightPage {
  if (rotation === 90) return { width: height, height: width, turn: 270, point: ({ x, y }) => ({ x: y, y: width - x }) };
  if (rotation === 180) return { width, height, turn: 180, point: ({ x, y }) => ({ x: width - x, y: height - y }) };
  if (rotation === 270) return { width: height, height: width, turn: 90, point: ({ x, y }) => ({ x: height - y, y: x }) };
  return { width, height, turn: 0, point: (p) => p };
}
