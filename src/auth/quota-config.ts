/** A caller's quota as a key file or the command line states it; nothing of the limiter itself. */

export interface Quota {
  /** Calls a second on average; unset: no limit on the rate. */
  rps?: number;
  /** Calls that may come at once above the rate (the window's size); unset: the rate's second, at least 1. */
  burst?: number;
  /** Calls open at once; unset: no limit. */
  concurrent?: number;
}

/** Checks a quota from a file or flags; throws an Error naming `where` and the field. */
export function checkQuota(value: unknown, where: string): Quota {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${where}: "quota" must be an object {"rps", "burst", "concurrent"}`);
  }
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => !['rps', 'burst', 'concurrent'].includes(k));
  if (unknown.length > 0) throw new Error(`${where}: unknown quota field ${unknown.join(', ')} (rps, burst and concurrent are understood)`);
  const quota: Quota = {};
  if (fields.rps !== undefined) {
    if (typeof fields.rps !== 'number' || !(fields.rps > 0) || !Number.isFinite(fields.rps)) {
      throw new Error(`${where}: quota.rps must be a number of calls a second > 0`);
    }
    quota.rps = fields.rps;
  }
  for (const name of ['burst', 'concurrent'] as const) {
    const n = fields[name];
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new Error(`${where}: quota.${name} must be a whole number ≥ 1`);
    quota[name] = n;
  }
  if (quota.burst !== undefined && quota.rps === undefined) throw new Error(`${where}: quota.burst needs quota.rps`);
  return quota;
}
