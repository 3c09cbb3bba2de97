/** The detector's input size for an image: a pure function of its size and the call's options, used to weigh a call before it runs. */
import { isLineShaped } from './line-image.js';

export interface DetectorInputSize {
  /** Multiples of the model's stride. */
  width: number;
  height: number;
}

const roundTo = (value: number, multiple: number): number => Math.max(multiple, Math.round(value / multiple) * multiple);

/**
 * Scale small images up until the shorter side reaches minSideLen, large ones down until the longer
 * side fits maxSideLen (the upscale is capped by twice that), then round to the model's stride. Line
 * and word images (isLineShaped) are not scaled up: their text is as large as they are, and a line
 * 28 px high scaled to a shorter side of 512 costs the detector 11 times the pixels for nothing.
 */
export function detectorInputSize(
  width: number,
  height: number,
  sides: { maxSideLen: number; minSideLen: number },
  multiple: number,
): DetectorInputSize {
  const longest = Math.max(width, height);
  const shortest = Math.min(width, height);
  const scale =
    shortest < sides.minSideLen && !isLineShaped(width, height)
      ? Math.min(sides.minSideLen / shortest, (2 * sides.maxSideLen) / longest)
      : Math.min(1, sides.maxSideLen / longest);
  return { width: roundTo(width * scale, multiple), height: roundTo(height * scale, multiple) };
}
