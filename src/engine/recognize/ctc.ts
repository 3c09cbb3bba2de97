/** Greedy CTC decoding of a recognizer's most likely class per time step. */

export interface DecodedText {
  text: string;
  /** Mean of the maximum probabilities of the emitted characters (0 when nothing is emitted). */
  confidence: number;
}

/** Per time step, the most likely class and its probability (the recognizer's greedy head). */
export interface StepBest {
  classes: ArrayLike<number>;
  probabilities: ArrayLike<number>;
}

/**
 * Decode one sequence: collapse repeats, drop blanks. Reads `steps` entries of `best` starting at
 * `offset` (the n-th line of a batch starts at n · steps); `charset[i]` is class i's text.
 */
export function ctcGreedyDecode(
  best: StepBest,
  offset: number,
  steps: number,
  charset: readonly string[],
  blankIndex: number,
): DecodedText {
  let text = '';
  let sum = 0;
  let emitted = 0;
  let previous = -1;
  for (let t = offset; t < offset + steps; t++) {
    const c = best.classes[t]!;
    if (c !== blankIndex && c !== previous) {
      text += charset[c] ?? '';
      sum += best.probabilities[t]!;
      emitted++;
    }
    previous = c;
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
