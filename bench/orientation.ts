/**
 * `npm run bench:orientation`: what page orientation and the line classifier cost, in one run, the
 * variants of each pair alternating pass by pass in ABBA order (so that drift in this machine's speed
 * falls on both alike):
 *   - with --baseline DIR: upright documents through another build's engine (DIR is its dist/, e.g.
 *     of a `git archive` of an older commit, built) against this one, both with their defaults,
 *   - upright documents with auto_rotate off and on (the cost upright pages pay for orientation),
 *   - upright documents with use_angle_cls off and on,
 *   - the same documents turned 90° and 180° (made with sharp), auto_rotate on, against upright.
 * Documents/s at a concurrency (default 4) and CPU milliseconds per document (this process, workers
 * included: on a machine shared with others, the steadier of the two), medians over passes, and the
 * ratio of each pair.
 *   node dist/bench/orientation.js [--set DIR] [--passes N] [--concurrency C] [--only baseline,upright,cls,turned] [--baseline DIST]
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { OcrEngine, type RecognizeOptions } from '../src/engine/engine.js';
import { mapLimit } from '../src/shared/map-limit.js';

const { values } = parseArgs({
  options: {
    set: { type: 'string', default: path.resolve('../shared/eval-dev/set') },
    passes: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '4' },
    only: { type: 'string', default: 'baseline,upright,cls,turned' },
    baseline: { type: 'string' },
  },
});
const passes = Number(values.passes);
const concurrency = Number(values.concurrency);
const docsDir = path.join(values.set!, 'docs');
const docs = readdirSync(docsDir)
  .filter((f) => /\.(jpe?g|png)$/.test(f))
  .sort()
  .map((f) => readFileSync(path.join(docsDir, f)));

/** What the benchmark needs of an engine, this build's or another's. */
interface Engine {
  recognize(image: Uint8Array, options?: RecognizeOptions): Promise<unknown>;
  close(): Promise<unknown>;
}

const engine: Engine = await OcrEngine.create();

interface Variant {
  name: string;
  images: Buffer[];
  options: RecognizeOptions;
  /** This build's engine unless set. */
  engine?: Engine;
}

interface Pass {
  docsPerSec: number;
  cpuMsPerDoc: number;
}

/** One pass over `images`: documents/s, and CPU time per document. */
async function pass(v: Variant): Promise<Pass> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  await mapLimit(v.images, concurrency, (image) => (v.engine ?? engine).recognize(image, v.options));
  const used = process.cpuUsage(cpu);
  return {
    docsPerSec: v.images.length / ((performance.now() - started) / 1000),
    cpuMsPerDoc: (used.user + used.system) / 1000 / v.images.length,
  };
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** A and B alternate ABBA over `passes` rounds, after one untimed pass of each. */
async function compare(a: Variant, b: Variant): Promise<void> {
  await pass(a);
  await pass(b);
  const runs: Record<string, Pass[]> = { [a.name]: [], [b.name]: [] };
  for (let round = 0; round < passes; round++) {
    for (const v of round % 2 === 0 ? [a, b] : [b, a]) runs[v.name]!.push(await pass(v));
  }
  const rate = (v: Variant): number => median(runs[v.name]!.map((p) => p.docsPerSec));
  const cpu = (v: Variant): number => median(runs[v.name]!.map((p) => p.cpuMsPerDoc));
  const each = (v: Variant): string => runs[v.name]!.map((p) => p.docsPerSec.toFixed(2)).join(' ');
  for (const v of [a, b]) console.log(`| ${v.name} | ${rate(v).toFixed(3)} | ${cpu(v).toFixed(0)} | ${each(v)} |`);
  const change = (x: number, y: number): string => `${(((y - x) / x) * 100).toFixed(1)} %`;
  console.log(`| ${b.name} against ${a.name} | ${change(rate(a), rate(b))} | ${change(cpu(a), cpu(b))} | |`);
}

const turn = (degrees: number): Promise<Buffer[]> => Promise.all(docs.map((d) => sharp(d).rotate(degrees).png().toBuffer()));

console.log(`${docs.length} documents from ${docsDir}, concurrency ${concurrency}, ${passes} timed passes each (ABBA), median docs/s`);
console.log('| variant | docs/s (median) | CPU ms/doc (median) | docs/s of each pass |');
console.log('| --- | --- | --- | --- |');
const only = values.only!.split(',');
if (only.includes('baseline') && values.baseline) {
  const module = (await import(pathToFileURL(path.resolve(values.baseline, 'src/engine/engine.js')).href)) as {
    OcrEngine: { create(): Promise<Engine> };
  };
  const before = await module.OcrEngine.create();
  await compare(
    { name: `upright, ${values.baseline}`, images: docs, options: {}, engine: before },
    { name: 'upright, this build', images: docs, options: {} },
  );
  await before.close();
}
if (only.includes('upright')) {
  await compare(
    { name: 'upright, auto_rotate off', images: docs, options: { autoRotate: false } },
    { name: 'upright, auto_rotate on', images: docs, options: { autoRotate: true } },
  );
}
if (only.includes('cls')) {
  await compare(
    { name: 'upright, use_angle_cls off', images: docs, options: { useAngleCls: false } },
    { name: 'upright, use_angle_cls on', images: docs, options: { useAngleCls: true } },
  );
}
if (only.includes('turned')) {
  // PNG copies, so that the upright side is re-encoded the same way.
  const upright = await turn(0);
  for (const degrees of [90, 180]) {
    await compare(
      { name: 'upright (PNG), auto_rotate on', images: upright, options: { autoRotate: true } },
      { name: `turned ${degrees}° (PNG), auto_rotate on`, images: await turn(degrees), options: { autoRotate: true } },
    );
  }
}
await engine.close();
