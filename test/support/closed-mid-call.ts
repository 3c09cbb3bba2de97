/**
 * A process that closes an engine while a model call runs, waits for its workers to exit
 * (OcrEngine.exited), then ends with process.exit(0), as mocha's --exit does: it prints how many
 * workers close() left inside a model call. Before exited(), such a worker aborted the process
 * when its call returned (exit 134, "terminate called after throwing an instance of 'Napi::Error'").
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { OcrEngine } from '../../src/engine/index.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';

export const CLOSED_MID_CALL = fileURLToPath(import.meta.url);

async function main(): Promise<void> {
  const engine = await OcrEngine.create({ workers: 1, detectorThreads: 1 });
  const doc = readFileSync(path.join(EVAL_DEV, 'docs', 'd001_invoice.jpg'));
  await engine.recognize(doc);
  // A detector pass at 2048 px on one thread takes seconds; its decode, a tenth of a second.
  const call = engine.recognize(doc, { maxSideLen: 2048 }).catch(() => undefined);
  await delay(500);
  const { stuck } = await engine.close();
  await engine.exited();
  await call;
  console.log(JSON.stringify({ stuck }));
  process.exit(0);
}

if (process.argv[1] === CLOSED_MID_CALL) void main();
