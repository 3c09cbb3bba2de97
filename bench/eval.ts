/**
 * Accuracy on an evaluation set, in process (no gRPC): writes the scorer's PRED.json.
 *   node dist/bench/eval.js --set ../shared/eval-dev/set --out pred.json [--lines-only] [--options JSON]
 * Then: python3 ../shared/eval-dev/score.py pred.json --set ../shared/eval-dev/set
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OcrEngine, type RecognizeOptions } from '../src/engine/engine.js';
import { mapLimit } from '../src/shared/map-limit.js';

const { values } = parseArgs({
  options: {
    set: { type: 'string', default: '../shared/eval-dev/set' },
    out: { type: 'string', default: 'pred.json' },
    'lines-only': { type: 'boolean', default: false },
    options: { type: 'string', default: '{}' },
    workers: { type: 'string' },
    only: { type: 'string', default: 'lines,docs' },
  },
});

const setDir = values.set!;
const options = JSON.parse(values.options!) as RecognizeOptions;
/** The images of the set's folder `name`, read before the engine starts: a wrong --set ends with its reason, not with the engine's workers cut off. */
const images = (name: string): string[] => {
  const dir = path.join(setDir, name);
  if (!existsSync(dir)) {
    console.error(`no folder ${name}/ in ${setDir}: give --set the evaluation set's folder, the one holding lines/ and docs/`);
    process.exit(2);
  }
  return readdirSync(dir)
    .filter((f) => /\.(png|jpe?g|webp|tiff?|gif|bmp)$/i.test(f))
    .sort();
};
const lineFiles = values.only!.includes('lines') ? images('lines') : [];
const docFiles = values.only!.includes('docs') ? images('docs') : [];
const engine = await OcrEngine.create(values.workers ? { workers: Number(values.workers) } : {});

const pred: { lines: Record<string, string>; docs: Record<string, string[]> } = { lines: {}, docs: {} };
const started = performance.now();
if (lineFiles.length > 0) {
  const dir = path.join(setDir, 'lines');
  if (values['lines-only']) {
    const out = await engine.recognizeLines(
      lineFiles.map((f) => readFileSync(path.join(dir, f))),
      options,
    );
    out.forEach((o, i) => (pred.lines[lineFiles[i]!] = o.ok ? o.line.text : ''));
  } else {
    await mapLimit(lineFiles, 4, async (f) => {
      const r = await engine.recognize(readFileSync(path.join(dir, f)), options);
      pred.lines[f] = r.lines.map((l) => l.text).join(' ');
    });
  }
}
const linesDone = performance.now();
if (docFiles.length > 0) {
  const dir = path.join(setDir, 'docs');
  for (const f of docFiles) {
    const r = await engine.recognize(readFileSync(path.join(dir, f)), options);
    pred.docs[f] = r.lines.map((l) => l.text);
  }
}
const docsDone = performance.now();
writeFileSync(values.out!, JSON.stringify(pred, null, 1));
console.error(`lines ${((linesDone - started) / 1000).toFixed(1)} s, docs ${((docsDone - linesDone) / 1000).toFixed(1)} s`);
await engine.close();
