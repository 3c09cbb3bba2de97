import { invalidArgument } from './errors.js';
import { countScanMarkers, MAX_JPEG_SCANS } from './jpeg-header.js';

/**
 * The most pages (image file directories) a TIFF may have. The service reads the first page only,
 * but sharp's TIFF reader parses every directory of the file to count its pages, for its header and
 * again for its decode: a 32 MB TIFF of 280,000 directories of 8×8 pages took it 2 s and 4 s of
 * CPU. Scanned documents have a page a sheet; 1000 is beyond any of them.
 */
export const MAX_TIFF_PAGES = 1000;

/**
 * The most entries (tags) a TIFF's directories may hold together. sharp's reader parses every
 * entry of every directory, and libtiff registers each tag it does not know, at about 50 µs a tag
 * here: 60 directories of 4000 unknown tags (2.9 MB) took 11 s of CPU, and 32 MB would take
 * minutes. A page has a few dozen entries; 20,000 is beyond a thousand-page scan (about 0.5 s
 * of CPU, were they all unknown).
 */
export const MAX_TIFF_ENTRIES = 20_000;

/** The file's byte order ("II": little-endian) and where its first directory is; null where it is too short to say. */
function tiffHeader(buf: Uint8Array): { view: DataView; little: boolean; first: number } | null {
  if (buf.length < 8) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const little = buf[0] === 0x49;
  return { view, little, first: view.getUint32(4, little) };
}

/**
 * The TIFF's directories (pages) and the entries they hold together, by following their chain of
 * offsets and reading each one's entry count (no entry is read), until either passes its bound
 * (MAX_TIFF_PAGES, MAX_TIFF_ENTRIES); where the chain leaves the file or comes back on itself, the
 * counts so far: the decoder judges such a file.
 */
export function countTiffDirectories(buf: Uint8Array): { pages: number; entries: number } {
  const counts = { pages: 0, entries: 0 };
  const header = tiffHeader(buf);
  if (!header) return counts;
  const { view, little } = header;
  const seen = new Set<number>();
  for (let at = header.first; at > 0 && at + 2 <= buf.length && !seen.has(at);) {
    seen.add(at);
    counts.pages++;
    const entries = view.getUint16(at, little);
    counts.entries += entries;
    const next = at + 2 + 12 * entries;
    if (next + 4 > buf.length || counts.pages > MAX_TIFF_PAGES || counts.entries > MAX_TIFF_ENTRIES) break;
    at = view.getUint32(next, little);
  }
  return counts;
}

/** INVALID_ARGUMENT for a TIFF of more than MAX_TIFF_PAGES pages or MAX_TIFF_ENTRIES entries, before any decoder meets it. */
export function checkTiffPages(buf: Uint8Array): void {
  const { pages, entries } = countTiffDirectories(buf);
  if (pages > MAX_TIFF_PAGES) {
    throw invalidArgument(
      `TIFF image has more than ${MAX_TIFF_PAGES} pages, this server's limit: only its first page is read, ` +
        'but the decoder parses them all; send that page alone',
    );
  }
  if (entries > MAX_TIFF_ENTRIES) {
    throw invalidArgument(
      `TIFF image's directories hold more than ${MAX_TIFF_ENTRIES} entries (tags), this server's limit (a page has a few dozen): ` +
        'the decoder parses them all; send its first page alone, without the tags it does not need',
    );
  }
}

/** TIFF compression codes whose strips or tiles are JPEG streams: old-style and new-style JPEG. */
const JPEG_COMPRESSION = new Set([6, 7]);

/**
 * The most strips or tiles whose offsets are read for the span of the first page's data: beyond it
 * (a page of more rows than any scan has) the whole file is counted instead.
 */
const MAX_SPAN_PIECES = 65_536;

/** Bytes from the start of the file, where the first page's strips or tiles lie. */
export interface ByteSpan {
  start: number;
  end: number;
}

/**
 * A SHORT or LONG entry's values, inline or where its offset points; null for another type, or
 * values that lie past the file or are more than `most`.
 */
function entryValues(view: DataView, little: boolean, e: number, most: number): number[] | null {
  const type = view.getUint16(e + 2, little);
  const size = type === 3 ? 2 : type === 4 ? 4 : 0;
  const count = view.getUint32(e + 4, little);
  if (size === 0 || count > most) return null;
  const at = count * size <= 4 ? e + 8 : view.getUint32(e + 8, little);
  if (at + count * size > view.byteLength) return null;
  return Array.from({ length: count }, (_, i) => (size === 2 ? view.getUint16(at + 2 * i, little) : view.getUint32(at + 4 * i, little)));
}

/**
 * The first page's compression, how many strips or tiles its pixels are cut into, and the span of
 * the file they lie in (null where their offsets and byte counts cannot be read), from its
 * directory's entries (SHORT or LONG values, as the baseline writes them); null where the file has
 * no readable first directory.
 */
export function readTiffLayout(buf: Uint8Array): { compression: number; pieces: number; data: ByteSpan | null } | null {
  const header = tiffHeader(buf);
  if (!header || header.first + 2 > buf.length) return null;
  const { view, little, first: at } = header;
  const fields = new Map<number, number>();
  const entries = new Map<number, number>();
  const count = view.getUint16(at, little);
  for (let e = at + 2; e + 12 <= buf.length && e < at + 2 + 12 * count; e += 12) {
    const type = view.getUint16(e + 2, little);
    const tag = view.getUint16(e, little);
    entries.set(tag, e);
    if (type === 3 || type === 4) fields.set(tag, type === 3 ? view.getUint16(e + 8, little) : view.getUint32(e + 8, little));
  }
  const width = fields.get(256) ?? 0;
  const height = fields.get(257) ?? 0;
  const tileWidth = fields.get(322);
  const tileLength = fields.get(323);
  const planes = fields.get(284) === 2 ? (fields.get(277) ?? 1) : 1;
  const across = tileWidth ? Math.ceil(width / tileWidth) : 1;
  const down = Math.ceil(height / (tileLength ?? fields.get(278) ?? height));
  const pieces = Math.max(1, across * down * planes);
  // Offsets and byte counts: TileOffsets and TileByteCounts for a tiled page, else those of its strips.
  const [offsetsTag, countsTag] = tileWidth ? [324, 325] : [273, 279];
  const [offsetsAt, countsAt] = [entries.get(offsetsTag), entries.get(countsTag)];
  const most = Math.min(pieces, MAX_SPAN_PIECES);
  const offsets = offsetsAt === undefined ? null : entryValues(view, little, offsetsAt, most);
  const counts = countsAt === undefined ? null : entryValues(view, little, countsAt, most);
  let data: ByteSpan | null = null;
  if (offsets && counts && offsets.length > 0 && offsets.length === counts.length) {
    let [start, end] = [buf.length, 0];
    offsets.forEach((offset, i) => {
      start = Math.min(start, offset);
      end = Math.max(end, offset + counts[i]!);
    });
    end = Math.min(end, buf.length);
    if (start < end) data = { start, end };
  }
  return { compression: fields.get(259) ?? 1, pieces, data };
}

/**
 * INVALID_ARGUMENT for a JPEG-compressed TIFF of more than MAX_JPEG_SCANS scans a strip or tile,
 * before any decoder meets it: each scan is another pass over its strip, as in a JPEG file, and
 * libtiff's JPEG codec only warns of a progression that repeats a scan, which sharp then decodes
 * (50,000 repeats in a 600 KB file of 344×344 took 3 s of CPU). The SOS markers of the span the
 * first page's strips lie in (the page read; the whole file where their offsets cannot be read)
 * are counted, natively, against that bound for its strips: each strip but the last is as large
 * as the largest, so the passes cost at most what 100 over the whole image would. The other pages'
 * scans are not counted: a scanned document of many JPEG pages is not a bomb.
 */
export function checkTiffJpegScans(buf: Uint8Array): void {
  const layout = readTiffLayout(buf);
  if (!layout || !JPEG_COMPRESSION.has(layout.compression)) return;
  const limit = MAX_JPEG_SCANS * layout.pieces;
  const { start, end } = layout.data ?? { start: 8, end: buf.length };
  if (countScanMarkers(buf.subarray(0, end), start, limit) > limit) {
    throw invalidArgument(
      `TIFF image's JPEG data has more than ${limit} scans, over this server's limit of ${MAX_JPEG_SCANS} for each of its ` +
        `${layout.pieces} strips or tiles (encoders write about 10): decoding it would take far longer than its size suggests; ` +
        'save it again (with baseline JPEG compression, or none) and send that',
    );
  }
}
