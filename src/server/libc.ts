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
export interface Koffi {
  load(path: string): { func(signature: string): KoffiFunction };
  address(value: Uint8Array): bigint;
}
/** koffi and glibc as it loaded them. */
export interface GlibcFfi {
  koffi: Koffi;
  lib: ReturnType<Koffi['load']>;
}

let ffi: GlibcFfi | null | undefined;

/** koffi with glibc loaded, once; null where either is missing. */
export function glibcFfi(): GlibcFfi | null {
  if (ffi !== undefined) return ffi;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    ffi = { koffi, lib: koffi.load('libc.so.6') };
  } catch {
    ffi = null;
  }
  return ffi;
}

/** The whole pages inside `region`, as a view of them: what madvise and mincore take. */
export function wholePages(koffi: Koffi, region: Uint8Array): Uint8Array {
  const start = Number(koffi.address(region) % BigInt(PAGE));
  const skip = start === 0 ? 0 : PAGE - start;
  return region.subarray(skip, skip + Math.max(0, Math.floor((region.byteLength - skip) / PAGE) * PAGE));
}

let loaded: Libc | null | undefined;

export function glibc(): Libc | null {
  if (loaded !== undefined) return loaded;
  const c = glibcFfi();
  if (!c) return (loaded = null);
  try {
    const exit = c.lib.func('void _exit(int)');
    const mallocTrim = c.lib.func('int malloc_trim(size_t)');
    const madvise = c.lib.func('int madvise(void *, size_t, int)');
    loaded = {
      exit: (code) => {
        exit(code);
        throw new Error('_exit returned');
      },
      mallocTrim: (pad) => new Promise((resolve, reject) => mallocTrim.async(pad, (err) => (err ? reject(err as Error) : resolve()))),
      populate: (region) => {
        // madvise takes whole pages: the region's first and last partial pages are left to their first touch.
        const pages = wholePages(c.koffi, region);
        if (pages.byteLength === 0) return Promise.resolve();
        return new Promise((resolve, reject) =>
          madvise.async(pages, pages.byteLength, MADV_POPULATE_WRITE, (err, result) =>
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
