/**
 * `npm run bench:orientation`: what page orientation and the line classifier cost, in one run on one
 * engine, the variants of each pair alternating pass by pass in ABBA order (so that drift in this
 * machine's speed falls on both alike):
 *   - upright documents with auto_rotate off and on (the cost upright pages pay for orientation),
 *   - upright documents with use_angle_cls off and on,
 *   - the same documents turned 90° and 180° (made with sharp), auto_rotate on, against upright.
 * Documents/s at a concurrency (default 4), the median over passes, and the ratio of each pair.
 *   node dist/bench/orientation.js [--set DIR] [--passes N] [--concurrency C] [--only upright,cls,turned]
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { OcrEngine, type RecognizeOptions } from '../src/engine/engine.js';
import { mapLimit } from '../src/shared/map-limit.js';

const { values } = parseArgs({
  options: {
    set: { type: 'string', default: path.resolve('../shared/eval-dev/set') },
    passes: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '4' },
    only: { type: 'string', default: 'upright,cls,turned' },
  },
});
const passes = Number(values.passes);
const concurrency = Number(values.concurrency);
const docsDir = path.join(values.set!, 'docs');
const docs = readdirSync(docsDir)
  .filter((f) => /\.(jpe?g|png)$/.test(f))
  .sort()
  .map((f) => readFileSync(path.join(docsDir, f)));

const engine = await OcrEngine.create();

interface Variant {
  name: string;
  images: Buffer[];
  options: RecognizeOptions;
}

/** Documents/s of one pass over `images`. */
async function pass(v: Variant): Promise<number> {
  const started = performance.now();
  await mapLimit(v.images, concurrency, (image) => engine.recognize(image, v.options));
  return v.images.length / ((performance.now() - started) / 1000);
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** A and B alternate ABBA over `passes` rounds, after one untimed pass of each. */
async function compare(a: Variant, b: Variant): Promise<void> {
  await pass(a);
  await pass(b);
  const rates: Record<string, number[]> = { [a.name]: [], [b.name]: [] };
  for (let round = 0; round < passes; round++) {
    for (const v of round % 2 === 0 ? [a, b] : [b, a]) rates[v.name]!.push(await pass(v));
  }
  const ma = median(rates[a.name]!);
  const mb = median(rates[b.name]!);
  const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(3)).join(' ');
  console.log(`| ${a.name} | ${ma.toFixed(3)} | ${fmt(rates[a.name]!)} |`);
  console.log(`| ${b.name} | ${mb.toFixed(3)} | ${fmt(rates[b.name]!)} |`);
  console.log(`| ratio ${b.name} / ${a.name} | ${(mb / ma).toFixed(3)} | ${(((mb - ma) / ma) * 100).toFixed(1)} % |`);
}

const turn = (degrees: number): Promise<Buffer[]> => Promise.all(docs.map((d) => sharp(d).rotate(degrees).png().toBuffer()));

console.log(`${docs.length} documents from ${docsDir}, concurrency ${concurrency}, ${passes} timed passes each (ABBA), median docs/s`);
console.log('| variant | docs/s (median) | each pass |');
console.log('| --- | --- | --- |');
const only = values.only!.split(',');
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
