/**
 * Run fn over items with at most `limit` calls in flight; results keep the items' order. The first
 * failure rejects the whole and starts no further call (those in flight run to their end): the
 * caller, already told, would not see their outcomes.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  // A limit of 0 or NaN would run no lane and resolve with no result at all, every item skipped.
  if (!(limit >= 1) || (!Number.isInteger(limit) && limit !== Infinity)) {
    throw new RangeError(`mapLimit's limit must be a whole number ≥ 1 (or Infinity), got ${limit}`);
  }
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  });
  await Promise.all(lanes);
  return results;
}
