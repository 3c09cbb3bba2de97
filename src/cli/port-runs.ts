/**
 * The ports a command binds, checked against each other before it starts: two flags that name one
 * port failed the start with "the port is in use", the command's own other port being the user.
 */

/** `count` consecutive ports from `first`, named by the flag that sets `first`; 0: any free port. */
export interface PortRun {
  flag: string;
  first: number;
  count: number;
}

const MAX_PORT = 65535;

function described(run: PortRun): string {
  return run.count === 1 ? `${run.flag} ${run.first}` : `${run.flag} ${run.first} (ports ${run.first}-${run.first + run.count - 1})`;
}

/** Why these runs cannot all be bound, in the flags' words; undefined where they can. */
export function portRunsClash(runs: readonly PortRun[]): string | undefined {
  const bound = runs.filter((run) => run.first !== 0);
  for (const run of bound) {
    const last = run.first + run.count - 1;
    if (last > MAX_PORT) return `${described(run)} runs past port ${MAX_PORT}; choose a lower ${run.flag}`;
  }
  for (const [i, a] of bound.entries()) {
    for (const b of bound.slice(i + 1)) {
      const shared = Math.max(a.first, b.first);
      if (shared <= Math.min(a.first + a.count, b.first + b.count) - 1) {
        return `${described(a)} and ${described(b)} share port ${shared}; give each its own ports`;
      }
    }
  }
  return undefined;
}
