/** Entry point of the `ocr` command (bin/ocr.js imports this module). */

import { failureLine } from './error-output.js';
import { outputFailure } from './output-failure.js';
import { runCli } from './program.js';

for (const name of ['stdout', 'stderr'] as const) {
  process[name].on('error', (err: NodeJS.ErrnoException) => {
    const { status, message } = outputFailure(name, err);
    if (message !== undefined) process.stderr.write(message);
    // At once: the work still running would only produce more output with nowhere to go.
    process.exit(status);
  });
}

try {
  // exitCode rather than exit(): pending output is flushed, and `serve` keeps running.
  process.exitCode = await runCli(process.argv.slice(2));
} catch (err) {
  process.stderr.write(failureLine(err));
  process.exitCode = 1;
}
