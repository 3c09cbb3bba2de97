/**
 * Holds a process at one import, so that a test can act while its modules still load: loaded with
 * `node --import` (import-gate-hooks.ts does the holding). IMPORT_GATE_SPECIFIER names the import
 * held; IMPORT_GATE_DIR the directory where the hooks write `reached` once it is held, and where
 * the test writes `open` to let it go on.
 */
import { register } from 'node:module';

register('./import-gate-hooks.js', import.meta.url, {
  data: { specifier: process.env.IMPORT_GATE_SPECIFIER, dir: process.env.IMPORT_GATE_DIR },
});
