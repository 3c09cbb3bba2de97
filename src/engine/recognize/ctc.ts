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
 * Decode one sequence: collapse repeats, drop blanks, and the spaces before the first character and
 * after the last (the recognizer reads a space in a crop's white margin at times: "Hello World 123 "),
 * which count in the confidence no more than in the text. Reads `steps` entries of `best` starting
 * at `offset` (the n-th line of a batch starts at n · steps); `charset[i]` is class i's text.
 */
export function ctcGreedyDecode(
  best: StepBest,
  offset: number,
  steps: number,
  charset: readonly string[],
  blankIndex: number,
): DecodedText {
  const chars: string[] = [];
  const probabilities: number[] = [];
  let previous = -1;
  for (let t = offset; t < offset + steps; t++) {
    const c = best.classes[t]!;
    if (c !== blankIndex && c !== previous) {
      chars.push(charset[c] ?? '');
      probabilities.push(best.probabilities[t]!);
    }
    previous = c;
  }
  let start = 0;
  let end = chars.length;
  while (start < end && chars[start]!.trim() === '') start++;
  while (end > start && chars[end - 1]!.trim() === '') end--;
  let sum = 0;
  for (let i = start; i < end; i++) sum += probabilities[i]!;
  return { text: chars.slice(start, end).join(''), confidence: end > start ? sum / (end - start) : 0 };
}

/** Class index → text for PaddleOCR-style recognizers: blank first, the dictionary, then optionally a space. */
export function buildCharset(dictionary: readonly string[], blankIndex: number, appendSpace: boolean): string[] {
  const charset = [...dictionary];
  if (appendSpace) charset.push(' ');
  charset.splice(blankIndex, 0, '');
  return charset;
}
