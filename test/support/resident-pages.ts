/**
 * Which pages of a region are resident, from mincore(2) through koffi: the region's own pages, where
 * the process's RSS also moves with whatever else frees or touches memory meanwhile (a collection,
 * another test's buffers released in the background). Null where the C library is not glibc.
 */
import { createRequire } from 'node:module';

const PAGE = 4096;

type Mincore = (addr: Uint8Array, length: number, vec: Uint8Array) => number;
interface Koffi {
  load(path: string): { func(signature: string): Mincore };
  address(value: Uint8Array): bigint;
}

let koffi: Koffi | undefined;
let mincore: Mincore | undefined;

/** The whole pages inside `region`: how many there are, and how many of them are resident. */
export function residentPages(region: Uint8Array): { pages: number; resident: number } | null {
  try {
    koffi ??= createRequire(import.meta.url)('koffi') as Koffi;
    mincore ??= koffi.load('libc.so.6').func('int mincore(void *, size_t, void *)');
  } catch {
    return null;
  }
  const start = Number(koffi.address(region) % BigInt(PAGE));
  const skip = start === 0 ? 0 : PAGE - start;
  const pages = Math.floor((region.byteLength - skip) / PAGE);
  const vec = new Uint8Array(pages);
  if (mincore(region.subarray(skip, skip + pages * PAGE), pages * PAGE, vec) !== 0) throw new Error('mincore failed');
  return { pages, resident: vec.reduce((n, v) => n + (v & 1), 0) };
}
