import { invalidArgument } from '../../shared/errors.js';

/**
 * The most pages (image file directories) a TIFF may have. The service reads the first page only,
 * but sharp's TIFF reader parses every directory of the file to count its pages, for its header and
 * again for its decode: a 32 MB TIFF of 280,000 directories of 8×8 pages took it 2 s and 4 s of
 * CPU. Scanned documents have a page a sheet; 1000 is beyond any of them.
 */
export const MAX_TIFF_PAGES = 1000;

/**
 * The TIFF's directories, counted up to `stopAfter + 1` by following their chain of offsets (no
 * entry is read); where the chain leaves the file or comes back on itself, the count so far: the
 * decoder judges such a file.
 */
export function countTiffPages(buf: Uint8Array, stopAfter = MAX_TIFF_PAGES): number {
  if (buf.length < 8) return 0;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const little = buf[0] === 0x49;
  const seen = new Set<number>();
  let pages = 0;
  for (let at = view.getUint32(4, little); at > 0 && at + 2 <= buf.length && !seen.has(at) && pages <= stopAfter; pages++) {
    seen.add(at);
    const next = at + 2 + 12 * view.getUint16(at, little);
    if (next + 4 > buf.length) return pages + 1;
    at = view.getUint32(next, little);
  }
  return pages;
}

/** INVALID_ARGUMENT for a TIFF of more than MAX_TIFF_PAGES pages, before any decoder meets it. */
export function checkTiffPages(buf: Uint8Array): void {
  if (countTiffPages(buf) > MAX_TIFF_PAGES) {
    throw invalidArgument(
      `TIFF image has more than ${MAX_TIFF_PAGES} pages, this server's limit: only its first page is read, ` +
        'but the decoder parses them all; send that page alone',
    );
  }
}
