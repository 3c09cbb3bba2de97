/** A caller's quota as a key file or the command line states it; nothing of the limiter itself. */

export interface Quota {
  /** Calls a second on average; unset: no limit on the rate. */
  rps?: number;
  /** Calls that may come at once above the rate (the window's size); unset: the rate's second, at least 1. */
  burst?: number;
  /** Calls open at once; unset: no limit. */
  concurrent?: number;
}

/** The burst of a rate that sets none: the rate's second, at least 1. */
export const defaultBurst = (rps: number): number => Math.max(1, Math.round(rps));

/**
 * The longest window (burst / rps) a rate may have: the limiter forgets its count after the window
 * through a timer, which Node fires at once past 2^31 - 1 ms (about 24.8 days), and a quota of
 * 1000 calls a month was then no limit at all.
 */
export const MAX_WINDOW_S = Math.floor((2 ** 31 - 1) / 1000);

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
  const days = windowDaysOver(quota);
  if (days !== null) {
    throw new Error(
      `${where}: the rate's window (burst / rps) of ${days} days is longer than the ${Math.floor(MAX_WINDOW_S / 86_400)} days a quota can span: raise rps or lower burst`,
    );
  }
  return quota;
}

/** The days of the rate's window (burst / rps) of `quota` where it is longer than MAX_WINDOW_S; else null. */
function windowDaysOver(quota: Quota): number | null {
  if (quota.rps === undefined) return null;
  const windowS = (quota.burst ?? defaultBurst(quota.rps)) / quota.rps;
  return windowS > MAX_WINDOW_S ? Math.round(windowS / 86_400) : null;
}

/** A caller's quota: its key's own fields over the defaults (the --quota-* flags), one by one. */
export const mergedQuota = (defaults: Quota, own: Quota | undefined): Quota => ({ ...defaults, ...own });

/**
 * Checks the quota a key's own fields (`own`, checked) make with the defaults: a rate of its own
 * takes the defaults' burst, and a low rate with a large burst makes a window no timer can span
 * (1000 calls at 0.0001 a second: 116 days), which the limiter then forgot at once: no limit at all.
 */
export function checkMergedQuota(own: Quota, defaults: Quota, where: string): void {
  const days = own.burst === undefined && defaults.burst !== undefined ? windowDaysOver(mergedQuota(defaults, own)) : null;
  if (days === null) return;
  throw new Error(
    `${where}: its quota.rps of ${own.rps} with the default burst of ${defaults.burst} (--quota-burst) makes a window (burst / rps) of ${days} days, longer than the ${Math.floor(MAX_WINDOW_S / 86_400)} days a quota can span: give the entry a quota.burst of its own, or raise its quota.rps`,
  );
}
