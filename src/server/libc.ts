/**
 * The few glibc functions Node does not expose, through koffi (a maintained FFI with prebuilt
 * binaries; no compiler at install). Each is absent where the C library is not glibc (musl,
 * macOS): callers then fall back to what Node offers.
 */
import { createRequire } from 'node:module';

interface Libc {
  /** Ends the process at once: no exit handlers, no waiting for threads. */
  exit(code: number): never;
  /** Returns free memory of every arena to the system, on a thread of libuv's pool: it takes up to tens of milliseconds. */
  mallocTrim(pad: number): Promise<void>;
}

type KoffiFunction = ((...args: number[]) => number) & {
  async(...args: [...number[], (err: unknown, result: number) => void]): void;
};
interface Koffi {
  load(path: string): { func(signature: string): KoffiFunction };
}

let loaded: Libc | null | undefined;

export function glibc(): Libc | null {
  if (loaded !== undefined) return loaded;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const lib = koffi.load('libc.so.6');
    const exit = lib.func('void _exit(int)');
    const mallocTrim = lib.func('int malloc_trim(size_t)');
    loaded = {
      exit: (code) => {
        exit(code);
        throw new Error('_exit returned');
      },
      mallocTrim: (pad) => new Promise((resolve, reject) => mallocTrim.async(pad, (err) => (err ? reject(err as Error) : resolve()))),
    };
  } catch {
    loaded = null;
  }
  return loaded;
}
