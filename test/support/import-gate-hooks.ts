/** Module hooks of import-gate.ts: the first import of the gated specifier waits until the gate opens. */
import { existsSync, watch, writeFileSync } from 'node:fs';
import path from 'node:path';

interface Gate {
  specifier: string;
  dir: string;
}

type NextResolve = (specifier: string, context: unknown) => Promise<unknown>;

let gate: Gate | undefined;
let held = false;

export function initialize(data: Partial<Gate>): void {
  if (data.specifier && data.dir) gate = { specifier: data.specifier, dir: data.dir };
}

/** Resolves once the test has written `open` in the gate's directory. */
function opened(dir: string): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(dir, () => {
      if (!existsSync(path.join(dir, 'open'))) return;
      watcher.close();
      resolve();
    });
    // Written before the watch began.
    if (existsSync(path.join(dir, 'open'))) {
      watcher.close();
      resolve();
    }
  });
}

export async function resolve(specifier: string, context: unknown, next: NextResolve): Promise<unknown> {
  if (gate && !held && specifier === gate.specifier) {
    held = true;
    const open = opened(gate.dir);
    writeFileSync(path.join(gate.dir, 'reached'), '');
    await open;
  }
  return next(specifier, context);
}
