/**
 * `npm run bench:compare`: engine configurations side by side, in process, over the development
 * documents. Each configuration gets its own engine; passes alternate between them, so that drift
 * in this machine's speed falls on all alike. Prints docs/s, median latency and CPU per document.
 *   node dist/bench/compare.js [--concurrency 4] [--passes 3] '{"detectorThreads":1}' '{}' ...
 * Each argument is a partial EngineConfig in JSON.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OcrEngine, type EngineConfig } from '../src/engine/engine.js';
import { mapLimit } from '../src/shared/map-limit.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    concurrency: { type: 'string', default: '4' },
    passes: { type: 'string', default: '3' },
    set: { type: 'string', default: path.resolve('../shared/eval-dev/set') },
  },
});
const concurrency = Number(values.concurrency);
const dir = path.join(values.set!, 'docs');
const docs = readdirSync(dir)
  .filter((f) => /\.(jpe?g|png)$/.test(f))
  .sort()
  .map((f) => readFileSync(path.join(dir, f)));
const configs = (positionals.length > 0 ? positionals : ['{}']).map((json) => JSON.parse(json) as Partial<EngineConfig>);

const sides = [];
for (const config of configs) {
  const engine = await OcrEngine.create(config);
  await mapLimit(docs, concurrency, (d) => engine.recognize(d)); // warm-up: every size once
  sides.push({ config, engine, seconds: 0, cpuMs: 0, latencies: [] as number[] });
}
for (let p = 0; p < Number(values.passes); p++) {
  for (const side of sides) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await mapLimit(docs, concurrency, async (d) => {
      const t = performance.now();
      await side.engine.recognize(d);
      side.latencies.push(performance.now() - t);
    });
    side.seconds += (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    side.cpuMs += (used.user + used.system) / 1000;
  }
}
console.log(`concurrency ${concurrency}, ${values.passes} passes over ${docs.length} documents`);
console.log('| configuration | docs/s | p50 ms | CPU ms per document |\n| --- | --- | --- | --- |');
for (const side of sides) {
  const sorted = side.latencies.sort((a, b) => a - b);
  const n = side.latencies.length;
  console.log(
    `| \`${JSON.stringify(side.config)}\` | ${(n / side.seconds).toFixed(2)} | ${sorted[n >> 1]!.toFixed(0)} | ${(side.cpuMs / n).toFixed(0)} |`,
  );
  await side.engine.close();
}
