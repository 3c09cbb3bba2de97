#!/usr/bin/env node
// Thin launcher: the CLI is TypeScript, compiled to dist/ by `npm install` (prepare) or `npm run build`.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('ocr: the project is not built; run npm install (it builds the project) or npm run build\n');
  process.exit(1);
}
// `serve` and `gateway` drain on SIGTERM and SIGINT: held from here until they take them, since node as
// a container's PID 1 would drop them while the modules load (src/cli/held-stop-signals.ts).
if (process.argv[2] === 'serve' || process.argv[2] === 'gateway') {
  (await import(new URL('../dist/src/cli/held-stop-signals.js', import.meta.url).href)).holdStopSignals();
}
await import(main.href);
