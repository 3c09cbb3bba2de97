/** Weight of the newest observation in a running estimate, once there have been ten (movedToward). */
const LEARNING_RATE = 0.1;
/** Weight of the newest distance from the mean in the running deviation (RFC 6298's β). */
const DEVIATION_RATE = 0.25;
/**
 * How many running deviations above the mean the estimate is: with none, the burst of invoices
 * after blank pages (below) had two calls end DEADLINE_EXCEEDED in two runs of three, with one
 * none in three; what it refuses early is in docs/BENCHMARKS.md.
 */
const DEVIATIONS = 1;

/**
 * What a unit of one kind of work costs, learned from the calls answered, on the safe side: the
 * running mean plus the running mean deviation, as TCP's retransmission timer weighs round trips
 * (RFC 6298, with four). Pages differ: a blank one costs a fourth of what an invoice does a
 * megapixel. A mean alone, lowered by thirty blank pages, admitted a burst of invoices after them beyond
 * what fitted, answered late (docs/BENCHMARKS.md, "A burst after a quiet spell"); an estimate too
 * high only refuses early, with a hint.
 */
export class CostEstimate {
  private mean: number;
  private deviation = 0;
  private count = 0;

  /** `initial`: the cost taken until the first observation, which replaces it. */
  constructor(initial: number) {
    this.mean = initial;
  }

  get value(): number {
    return this.mean + DEVIATIONS * this.deviation;
  }

  /** Whether anything was observed: before, the value is a guess. */
  get measured(): boolean {
    return this.count > 0;
  }

  learn(observed: number): void {
    this.count++;
    // The starting guess's distance from the first observation says nothing of how costs vary.
    if (this.count > 1) this.deviation += DEVIATION_RATE * (Math.abs(observed - this.mean) - this.deviation);
    this.mean = movedToward(this.mean, observed, this.count);
  }
}

/**
 * An estimate moved toward its `count`th observation: the first ones replace the starting estimate
 * with their average, the later ones move it a tenth of the way. Learned a tenth a call from the
 * start, the estimate of a document on a machine three times slower than the start's was still
 * half of what one took after three calls, and a burst that followed them was admitted beyond what
 * fitted, its last calls answered late (docs/BENCHMARKS.md, "A burst after a quiet spell").
 */
export function movedToward(estimate: number, observed: number, count: number): number {
  return estimate + Math.max(LEARNING_RATE, 1 / count) * (observed - estimate);
}
