/**
 * `mkdir -p`, one level at a time. Node's recursive mkdir (20.x) loops forever, on the thread that
 * called it, where mkdir answers ENOENT inside a directory that exists (/proc, /sys): `ocr serve
 * --model-cache /proc/x` spun at start, deaf even to SIGTERM. Here that ENOENT is thrown, naming
 * the path it failed on.
 */
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

const isDirectory = (dir: string): boolean => statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false;

export function makeDirectories(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    const { code } = err as NodeJS.ErrnoException;
    if (code === 'EEXIST' && isDirectory(dir)) return;
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir || isDirectory(parent)) throw err;
    makeDirectories(parent);
    makeDirectories(dir);
  }
}
