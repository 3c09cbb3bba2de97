/**
 * The residency of a region's own pages, through glibc (libc.ts): mincore(2) to count them, where
 * the process's RSS also moves with whatever else frees or touches memory meanwhile (a collection,
 * another test's buffers released in the background), and madvise(2) to drop them, since a buffer
 * malloc hands out may reuse memory already resident. Null where the C library is not glibc.
 */
import { glibcFfi, wholePages } from '../../src/server/libc.js';

const PAGE = 4096;
const MADV_DONTNEED = 4;

/** How many whole pages `region` has, and how many of them are resident. */
export function residentPages(region: Uint8Array): { pages: number; resident: number } | null {
  const c = glibcFfi();
  if (!c) return null;
  const pages = wholePages(c.koffi, region);
  const vec = new Uint8Array(pages.byteLength / PAGE);
  if (c.lib.func('int mincore(void *, size_t, void *)')(pages, pages.byteLength, vec) !== 0) throw new Error('mincore failed');
  return { pages: vec.length, resident: vec.reduce((n, v) => n + (v & 1), 0) };
}

/** Gives the whole pages of `region` back to the system (their bytes read as zeros after); false where it cannot. */
export function dropPages(region: Uint8Array): boolean {
  const c = glibcFfi();
  if (!c) return false;
  const pages = wholePages(c.koffi, region);
  return c.lib.func('int madvise(void *, size_t, int)')(pages, pages.byteLength, MADV_DONTNEED) === 0;
}
