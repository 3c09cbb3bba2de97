/** Greedy CTC decoding of a recognizer's per-timestep class probabilities. */

export interface DecodedText {
  text: string;
  /** Mean of the maximum probabilities of the emitted characters (0 when nothing is emitted). */
  confidence: number;
}

/**
 * Decode one sequence: argmax per step, collapse repeats, drop blanks.
 * `probs` holds `steps × classes` values starting at `offset`; `charset[i]` is class i's text.
 */
export function ctcGreedyDecode(
  probs: Float32Array,
  offset: number,
  steps: number,
  classes: number,
  charset: readonly string[],
  blankIndex: number,
): DecodedText {
  let text = '';
  let sum = 0;
  let emitted = 0;
  let previous = -1;
  for (let t = 0; t < steps; t++) {
    const row = offset + t * classes;
    let best = 0;
    let bestP = probs[row]!;
    for (let c = 1; c < classes; c++) {
      const p = probs[row + c]!;
      if (p > bestP) {
        bestP = p;
        best = c;
      }
    }
    if (best !== blankIndex && best !== previous) {
      text += charset[best] ?? '';
      sum += bestP;
      emitted++;
    }
    previous = best;
  }
  return { text, confidence: emitted > 0 ? sum / emitted : 0 };
}

/** Class index → text for PaddleOCR-style recognizers: blank first, the dictionary, then optionally a space. */
export function buildCharset(dictionary: readonly string[], blankIndex: number, appendSpace: boolean): string[] {
  const charset = [...dictionary];
  if (appendSpace) charset.push(' ');
  charset.splice(blankIndex, 0, '');
  return charset;
}
