/** The outcome of one input file of `ocr recognize`, and how any failure is named. */

import { OcrCallError } from '../client/errors.js';
import type { ErrorDetail, Line } from '../gen/ocr/v1/ocr.js';
import { OcrError } from '../shared/errors.js';

export interface FileSuccess {
  file: string;
  width: number;
  height: number;
  /** Degrees clockwise by which the server found the page turned (absent for tiled images). */
  rotation?: number;
  instance: string;
  lines: Line[];
}

export interface FileFailure {
  file: string;
  error: ErrorDetail;
}

export type FileResult = FileSuccess | FileFailure;

export function isFailure(result: FileResult): result is FileFailure {
  return 'error' in result;
}

/** File-system errors a user can act on, named like the gRPC statuses the server's errors use. */
const ERRNO_CODES: Record<string, string> = {
  ENOENT: 'NOT_FOUND',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
};

/**
 * The SDK's and the servers' words for what this command sets by a flag (a token they tell to send
 * as a header, a deadline), and the flag, added where they do not name it.
 */
const FLAG_HINTS = [
  { code: 'UNAUTHENTICATED', words: /^no token: /, flag: '--token', hint: '(ocr: --token TOKEN, or $OCR_TOKEN)' },
  { code: 'DEADLINE_EXCEEDED', words: /\bdeadline\b/, flag: '--deadline-ms', hint: '(ocr: --deadline-ms MS)' },
  // Run without --target, the command dials 127.0.0.1:50051; told to check "the target", its user may not know the flag.
  {
    code: 'UNAVAILABLE',
    words: /\bthe target names them\b/,
    flag: '--target',
    hint: '(ocr: --target HOST:PORT, 127.0.0.1:50051 unless given)',
  },
] as const;

function withFlagHint({ code, details }: OcrCallError): string {
  const found = FLAG_HINTS.find((h) => h.code === code && h.words.test(details) && !details.includes(h.flag));
  return found ? `${details} ${found.hint}` : details;
}

/** A gRPC status name and a message for any error, so every failed file reads the same way. */
export function describeError(err: unknown): ErrorDetail {
  if (err instanceof OcrCallError) return { code: err.code, message: withFlagHint(err) };
  if (err instanceof OcrError) return { code: err.code, message: err.message };
  if (err instanceof Error) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (typeof errno === 'string' && (err as NodeJS.ErrnoException).syscall !== undefined) {
      // A failure to read the file leaves nothing to recognize: the input is unusable.
      return { code: ERRNO_CODES[errno] ?? 'INVALID_ARGUMENT', message: err.message };
    }
    return { code: 'UNKNOWN', message: err.message };
  }
  return { code: 'UNKNOWN', message: String(err) };
}

export function failure(file: string, err: unknown): FileFailure {
  return { file, error: describeError(err) };
}

/** The servers' words for an image too large for one call, which name the gRPC way (RecognizeTiles). */
const AS_TILES = /\bas tiles\b/;

/** How this command reads an image too large for one call, by how it sent it: whole, or as one of --lines-only's line images, which it never tiles. */
const TILING_HINTS = {
  whole: 'ocr recognize: add --tile-size 1024',
  line: 'ocr recognize --lines-only sends no tiles: crop the image to its line or scale it down, or read it as a page, with --tile-size 1024 in place of --lines-only',
} as const;

/** A failure of a file sent in one call, with what to do with this command where the server says to send it as tiles. */
export function withTilingHint(result: FileFailure, sent: keyof typeof TILING_HINTS): FileFailure {
  const { message } = result.error;
  if (!AS_TILES.test(message)) return result;
  return { ...result, error: { ...result.error, message: `${message} (${TILING_HINTS[sent]})` } };
}

/** The servers' advice on the tile size, in the SDK's words (tileSize). */
const TILE_SIZE_ADVICE = /at most (\d+) px a side \(the SDK's tileSize\)/g;
/** The servers' advice to an image of more tiles than they take, which names no option. */
const LARGER_TILES = /; use larger tiles$/;

/**
 * A failure of a file sent as tiles, its stream image id (random, meaning nothing to the user)
 * replaced by the file's name, and the tile size the server advises given as this command's option.
 */
export function namingImage(result: FileFailure, imageId: string): FileFailure {
  const message = result.error.message
    .replaceAll(`'${imageId}'`, `'${result.file}'`)
    .replace(TILE_SIZE_ADVICE, (_, side: string) => `at most ${side} px a side (--tile-size ${side})`)
    .replace(LARGER_TILES, '; use larger tiles (--tile-size)');
  return { ...result, error: { ...result.error, message } };
}
