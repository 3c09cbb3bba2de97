#!/usr/bin/env node
// Thin launcher: the CLI is TypeScript, compiled to dist/ by `npm install` (prepare) or `npm run build`.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('ocr: the project is not built; run npm install (it builds the project) or npm run build\n');
  process.exit(1);
}
await import(main.href);
