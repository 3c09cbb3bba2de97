import { invalidArgument } from './errors.js';

/** What a JPEG's marker segments say before any pixel is decoded. */
export interface JpegHeader {
  width: number;
  height: number;
  /** Bits per sample. */
  precision: number;
  /** 1 gray, 3 YCbCr (or RGB), 4 CMYK or YCCK. */
  components: number;
  /** The frame's SOF marker: 0xc0 baseline, 0xc1 extended, 0xc2 progressive; others are lossless or arithmetic coded. */
  frameMarker: number;
  /** APP1 Exif (may hold an orientation), APP2 ICC profile, APP14 Adobe (colour transform). */
  exif: boolean;
  icc: boolean;
  adobe: boolean;
  /** The bytes end in the EOI marker: a file cut short does not. */
  complete: boolean;
  /** Where the first SOS marker starts. */
  scanOffset: number;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
/** Start-of-frame markers: 0xc0–0xcf but for DHT (c4), JPG (c8) and DAC (cc). */
const isFrameMarker = (m: number): boolean => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
/** Markers without a length: RSTn and TEM. */
const isStandalone = (m: number): boolean => (m >= 0xd0 && m <= 0xd7) || m === 0x01;

/**
 * Segments before the first scan that a header may hold: encoders write a dozen or so, and an ICC
 * profile at most 255 more. A file of millions of tiny segments would otherwise hold the thread
 * that walks them.
 */
export const MAX_JPEG_HEADER_SEGMENTS = 1000;

const startsWithText = (data: Uint8Array, text: string): boolean =>
  data.length >= text.length && [...text].every((c, i) => data[i] === c.charCodeAt(0));

/**
 * The header of a JPEG, by walking its marker segments from SOI to the first SOS (no decoding);
 * null when the bytes are not a JPEG with a well-formed sequence of at most
 * MAX_JPEG_HEADER_SEGMENTS segments and a frame header there.
 */
export function readJpegHeader(buf: Uint8Array): JpegHeader | null {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== SOI) return null;
  const header = { exif: false, icc: false, adobe: false, complete: buf[buf.length - 2] === 0xff && buf[buf.length - 1] === EOI };
  let frame: Pick<JpegHeader, 'width' | 'height' | 'precision' | 'components' | 'frameMarker'> | null = null;
  let at = 2;
  for (let segments = 0; at < buf.length && segments <= MAX_JPEG_HEADER_SEGMENTS; segments++) {
    const markerAt = at;
    if (buf[at] !== 0xff) return null;
    while (buf[at] === 0xff) at++; // fill bytes
    const marker = buf[at++];
    if (marker === undefined || marker === SOI || marker === EOI) return null;
    if (isStandalone(marker)) continue;
    if (at + 2 > buf.length) return null;
    const length = (buf[at]! << 8) | buf[at + 1]!;
    if (length < 2 || at + length > buf.length) return null;
    const data = buf.subarray(at + 2, at + length);
    if (marker === SOS) return frame && { ...frame, ...header, scanOffset: markerAt };
    if (isFrameMarker(marker)) {
      if (data.length < 6) return null;
      frame = {
        precision: data[0]!,
        height: (data[1]! << 8) | data[2]!,
        width: (data[3]! << 8) | data[4]!,
        components: data[5]!,
        frameMarker: marker,
      };
    } else if (marker === 0xe1 && startsWithText(data, 'Exif\0')) {
      header.exif = true;
    } else if (marker === 0xe2 && startsWithText(data, 'ICC_PROFILE\0')) {
      header.icc = true;
    } else if (marker === 0xee && startsWithText(data, 'Adobe')) {
      header.adobe = true;
    }
    at += length;
  }
  return null;
}

/**
 * A JPEG that decodePlainJpeg reads exactly as sharp does: 8-bit gray or YCbCr, Huffman coded
 * (baseline, extended or progressive), complete, with no EXIF orientation to apply, no ICC profile
 * to convert from and no Adobe colour transform. A zero height (set later by a DNL marker) is left
 * to sharp too.
 */
export function isPlainJpeg(header: JpegHeader): boolean {
  const { precision, components, frameMarker, exif, icc, adobe, complete, height } = header;
  return (
    precision === 8 &&
    (components === 1 || components === 3) &&
    frameMarker >= 0xc0 &&
    frameMarker <= 0xc2 &&
    !exif &&
    !icc &&
    !adobe &&
    complete &&
    height > 0
  );
}

/** Frame markers of the hierarchical (differential) processes: libjpeg decodes none of them. */
const HIERARCHICAL_FRAMES = new Set([0xc5, 0xc6, 0xc7, 0xcd, 0xce, 0xcf]);

/**
 * INVALID_ARGUMENT for a sound JPEG that sharp's libjpeg cannot decode: samples of more than 8
 * bits (12-bit medical and scientific images, 16-bit lossless ones), or a hierarchical frame. The
 * decoder's failure called such a file corrupt or truncated, and told the caller to send it whole.
 */
export function checkJpegProcess(header: JpegHeader | null): void {
  if (header && header.precision > 8) {
    throw invalidArgument(
      `JPEG image has ${header.precision}-bit samples; this server decodes JPEGs of 8 bits a sample: ` +
        'save it as an 8-bit JPEG, or as PNG, and send that',
    );
  }
  if (header && HIERARCHICAL_FRAMES.has(header.frameMarker)) {
    throw invalidArgument(
      `JPEG image is hierarchical (frame marker 0x${header.frameMarker.toString(16)}), a process this server does not decode: ` +
        'save it as a baseline or progressive JPEG, or as PNG, and send that',
    );
  }
}

/**
 * The most scans a JPEG may have. Each scan is another pass over the image's coefficients, so a
 * progressive file that repeats one small scan costs decoding time out of all proportion to its
 * size (libjpeg-turbo's djpeg has -maxscans against this). Encoders write about ten
 * (jpeg_simple_progression: 10 for colour, 6 for gray; a sequential file one per component), and
 * files that append a second image (a gain map, MPO) twice that: 100 is beyond any of them.
 */
export const MAX_JPEG_SCANS = 100;

const SOS_MARKER = Buffer.from([0xff, SOS]);

/**
 * The JPEG's scans, counted up to `stopAfter + 1`: the SOS markers from the first one that
 * readJpegHeader finds (from the start where it finds none). 0xFF DA cannot occur inside
 * entropy-coded data (an 0xFF there is followed by 0x00 or a marker), so a native search for it
 * counts every scan without visiting the stuffed bytes and restart markers in between, at memchr
 * speed; what it may also count, those bytes inside a later segment's payload, only errs towards
 * refusal.
 */
export function countJpegScans(buf: Uint8Array, stopAfter = MAX_JPEG_SCANS): number {
  return countScanMarkers(buf, readJpegHeader(buf)?.scanOffset ?? 2, stopAfter);
}

/** The SOS markers (0xFF DA) in `buf` from `from`, counted natively up to `stopAfter + 1`. */
export function countScanMarkers(buf: Uint8Array, from: number, stopAfter: number): number {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let scans = 0;
  for (let at = bytes.indexOf(SOS_MARKER, from); at >= 0 && scans <= stopAfter; at = bytes.indexOf(SOS_MARKER, at + 2)) scans++;
  return scans;
}

/** INVALID_ARGUMENT for a JPEG of more than MAX_JPEG_SCANS scans, before any decoder meets it. */
export function checkJpegScans(buf: Uint8Array): void {
  if (countJpegScans(buf) > MAX_JPEG_SCANS) {
    throw invalidArgument(
      `JPEG image has more than ${MAX_JPEG_SCANS} scans, this server's limit (encoders write about 10): ` +
        'decoding it would take far longer than its size suggests; save it again (as a baseline JPEG, or PNG) and send that',
    );
  }
}
