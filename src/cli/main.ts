/** Entry point of the `ocr` command (bin/ocr.js imports this module). */

import { runCli } from './program.js';

try {
  // exitCode rather than exit(): pending output is flushed, and `serve` keeps running.
  process.exitCode = await runCli(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`ocr: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
