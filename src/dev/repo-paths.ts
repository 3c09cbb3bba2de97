/** Where the repository, its CLI and the shared evaluation sets are, for tests and benchmarks (src/dev: tooling they share). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/...). */
export const ROOT = path.resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const SHARED = process.env.OCR_SHARED_DIR ?? path.resolve(ROOT, '../shared');
export const EVAL_DEV = path.join(SHARED, 'eval-dev', 'set');
export const EVAL_REAL = path.join(SHARED, 'eval-real');
export const SCORER = path.join(SHARED, 'eval-dev', 'score.py');
export const CLI = path.join(ROOT, 'bin', 'ocr.js');
