/** How `--lines-only` groups files into RecognizeLines calls. */

/**
 * Consecutive runs of indices, each at most maxCount files and maxBytes in total, so that results
 * come back in argument order and no call exceeds the server's limits. A file larger than maxBytes
 * goes alone: the server then rejects that file only.
 */
export function planBatches(sizes: readonly number[], maxCount: number, maxBytes: number): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  sizes.forEach((size, index) => {
    if (current.length > 0 && (current.length >= maxCount || bytes + size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(index);
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}
