/**
 * Places held at once, in all and by key (a client's address), each count with its bound: what the
 * connection guard (connection-guard.ts) and the limit on calls that stay open (open-ended-calls.ts)
 * keep.
 */
export class Places {
  private held = 0;
  private readonly byKey = new Map<string, number>();

  constructor(
    readonly total: number,
    readonly perKey: number,
  ) {}

  /** Places held now, in all. */
  get count(): number {
    return this.held;
  }

  /** Places `key` holds now. */
  countOf(key: string): number {
    return this.byKey.get(key) ?? 0;
  }

  /** Take a place for `key`; or, taking none, which bound is full. */
  take(key: string): 'total' | 'per_key' | undefined {
    if (this.held >= this.total) return 'total';
    const ofKey = this.countOf(key);
    if (ofKey >= this.perKey) return 'per_key';
    this.held++;
    this.byKey.set(key, ofKey + 1);
    return undefined;
  }

  /** Give back a place `key` took. */
  give(key: string): void {
    this.held--;
    const left = this.countOf(key) - 1;
    if (left <= 0) this.byKey.delete(key);
    else this.byKey.set(key, left);
  }
}
