/**
 * How `ocr recognize` reads an input: a file, a pipe (`<(curl -s URL)`, a FIFO) or `-` (standard
 * input), each within a bound, so that no input makes it wait or read without end.
 */

import { close, constants, fstat, open, readFile, type Stats } from 'node:fs';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { isatty } from 'node:tty';
import { promisify } from 'node:util';

import { MAX_TIMER_MS } from '../shared/answer-deadline.js';
import { invalidArgument, OcrError, resourceExhausted } from '../shared/errors.js';

/** The argument that names standard input. */
export const STDIN = '-';

/**
 * The most read from one input: what the most permissive server accepts in one image (its
 * --max-message-mb is at most 2047). Tiles are cut from images no larger.
 */
export const MAX_INPUT_BYTES = 2047 * 1024 * 1024;

const openFd = promisify(open);
const closeFd = promisify(close);
const fstatFd = promisify(fstat);
const readFd = promisify(readFile);

/** `what`: how much it held, said as "it holds N bytes," or "it sent". */
const tooLarge = (what: string): OcrError =>
  resourceExhausted(
    `${what} more than the ${MAX_INPUT_BYTES / (1024 * 1024)} MiB any server accepts in one image: scale the image down, or cut it into parts and read each`,
  );

/**
 * The input's bytes. A pipe is read until its writer closes it, and fails once no byte has come for
 * `idleMs` (a FIFO nobody writes to); a device, which would be read without end, is refused unread.
 */
export async function readInput(file: string, idleMs: number): Promise<Buffer> {
  // Non-blocking: opening a FIFO with no writer would otherwise hold one of libuv's four threads until one came.
  const fd = file === STDIN ? 0 : await openFd(file, constants.O_RDONLY | constants.O_NONBLOCK);
  let owned = fd !== 0;
  try {
    const stats = await fstatFd(fd);
    // Node's own words for reading one, "illegal operation on a directory", do not say what to give instead.
    if (stats.isDirectory()) throw invalidArgument('it is a directory: name the image files in it (DIR/*.jpg)');
    if (stats.isFile()) {
      if (stats.size > MAX_INPUT_BYTES) throw tooLarge(`it holds ${stats.size} bytes,`);
      return await readFd(fd);
    }
    if (!stats.isFIFO() && !stats.isSocket()) throw refusedDevice(file, stats);
    // The socket closes the descriptor it reads.
    owned = false;
    return await readPipe(fd === 0 ? process.stdin : new net.Socket({ fd, readable: true, writable: false }), idleMs);
  } finally {
    if (owned) await closeFd(fd);
  }
}

function refusedDevice(file: string, stats: Stats): OcrError {
  const kind = stats.isCharacterDevice() ? 'a character device' : stats.isBlockDevice() ? 'a block device' : 'not a file or a pipe';
  if (file === STDIN) {
    return invalidArgument(
      `standard input is ${isatty(0) ? 'a terminal' : kind}, not an image: pipe one into it (cat scan.jpg | ocr recognize -)`,
    );
  }
  // Such as /dev/zero, which would be read without end, or a disk.
  return invalidArgument(`it is ${kind}, not an image file: name an image file or a pipe`);
}

/** Everything the pipe's writer sends until it closes it, at most MAX_INPUT_BYTES, with no wait of `idleMs` between bytes. */
function readPipe(pipe: Readable, idleMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const fail = (err: Error): void => {
      clearTimeout(idle);
      pipe.destroy();
      reject(err);
    };
    // Clamped to the longest timer Node keeps (24 days), which a longer one would fire at once.
    const idle = setTimeout(
      () =>
        fail(
          new OcrError(
            'DEADLINE_EXCEEDED',
            `${bytes === 0 ? 'nothing came through the pipe' : `the pipe sent ${bytes} bytes, then nothing more`} for ${idleMs} ms (--deadline-ms) and it is still open: is anything writing to it?`,
          ),
        ),
      Math.min(idleMs, MAX_TIMER_MS),
    );
    pipe.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_INPUT_BYTES) {
        fail(tooLarge('it sent'));
        return;
      }
      chunks.push(chunk);
      idle.refresh();
    });
    pipe.once('end', () => {
      clearTimeout(idle);
      resolve(Buffer.concat(chunks, bytes));
    });
    pipe.once('error', fail);
  });
}
