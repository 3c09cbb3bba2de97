/**
 * The residency of a region's own pages, through koffi: mincore(2) to count them, where the
 * process's RSS also moves with whatever else frees or touches memory meanwhile (a collection,
 * another test's buffers released in the background), and madvise(2) to drop them, since a buffer
 * malloc hands out may reuse memory already resident. Null where the C library is not glibc.
 */
import { createRequire } from 'node:module';

const PAGE = 4096;
const MADV_DONTNEED = 4;

type Call = (addr: Uint8Array, length: number, arg: Uint8Array | number) => number;
interface Koffi {
  load(path: string): { func(signature: string): Call };
  address(value: Uint8Array): bigint;
}
interface Libc {
  koffi: Koffi;
  mincore: Call;
  madvise: Call;
}

let libc: Libc | null | undefined;

function load(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const lib = koffi.load('libc.so.6');
    libc = { koffi, mincore: lib.func('int mincore(void *, size_t, void *)'), madvise: lib.func('int madvise(void *, size_t, int)') };
  } catch {
    libc = null;
  }
  return libc;
}

/** The whole pages inside `region`, as a view starting at the first of them. */
function wholePages(koffi: Koffi, region: Uint8Array): Uint8Array {
  const start = Number(koffi.address(region) % BigInt(PAGE));
  const skip = start === 0 ? 0 : PAGE - start;
  return region.subarray(skip, skip + Math.floor((region.byteLength - skip) / PAGE) * PAGE);
}

/** How many whole pages `region` has, and how many of them are resident. */
export function residentPages(region: Uint8Array): { pages: number; resident: number } | null {
  const c = load();
  if (!c) return null;
  const pages = wholePages(c.koffi, region);
  const vec = new Uint8Array(pages.byteLength / PAGE);
  if (c.mincore(pages, pages.byteLength, vec) !== 0) throw new Error('mincore failed');
  return { pages: vec.length, resident: vec.reduce((n, v) => n + (v & 1), 0) };
}

/** Gives the whole pages of `region` back to the system (their bytes read as zeros after); false where it cannot. */
export function dropPages(region: Uint8Array): boolean {
  const c = load();
  if (!c) return false;
  const pages = wholePages(c.koffi, region);
  return c.madvise(pages, pages.byteLength, MADV_DONTNEED) === 0;
}
