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
  /**
   * Makes the whole pages of `region` resident and writable, contents untouched (madvise's
   * MADV_POPULATE_WRITE, Linux 5.14), on a thread of libuv's pool; rejects where the kernel refuses.
   */
  populate(region: Uint8Array): Promise<void>;
}

const PAGE = 4096;
const MADV_POPULATE_WRITE = 23;

type Argument = number | Uint8Array;
type KoffiFunction = ((...args: Argument[]) => number) & {
  async(...args: [...Argument[], (err: unknown, result: number) => void]): void;
};
interface Koffi {
  load(path: string): { func(signature: string): KoffiFunction };
  address(value: Uint8Array): bigint;
}

let loaded: Libc | null | undefined;

export function glibc(): Libc | null {
  if (loaded !== undefined) return loaded;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const lib = koffi.load('libc.so.6');
    const exit = lib.func('void _exit(int)');
    const mallocTrim = lib.func('int malloc_trim(size_t)');
    const madvise = lib.func('int madvise(void *, size_t, int)');
    loaded = {
      exit: (code) => {
        exit(code);
        throw new Error('_exit returned');
      },
      mallocTrim: (pad) => new Promise((resolve, reject) => mallocTrim.async(pad, (err) => (err ? reject(err as Error) : resolve()))),
      populate: (region) => {
        // madvise takes whole pages: the region's first and last partial pages are left to their first touch.
        const start = Number(koffi.address(region) % BigInt(PAGE));
        const skip = start === 0 ? 0 : PAGE - start;
        const bytes = Math.floor((region.byteLength - skip) / PAGE) * PAGE;
        if (bytes <= 0) return Promise.resolve();
        return new Promise((resolve, reject) =>
          madvise.async(region.subarray(skip, skip + bytes), bytes, MADV_POPULATE_WRITE, (err, result) =>
            err || result !== 0 ? reject(err instanceof Error ? err : new Error('madvise refused')) : resolve(),
          ),
        );
      },
    };
  } catch {
    loaded = null;
  }
  return loaded;
}
