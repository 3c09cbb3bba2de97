/**
 * A full garbage collection on demand, in whichever thread calls it. V8 exposes gc() only behind a
 * flag; setting the flag at run time and reading gc from a fresh context is the documented way to
 * get it without starting Node with --expose-gc. Used once a burst is over, so that the large
 * buffers it freed go back to the allocator (and from there to the system) now, not whenever V8
 * next collects.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}
