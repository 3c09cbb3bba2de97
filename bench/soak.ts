/**
 * `npm run bench:soak`: memory under sustained load. Starts `ocr serve`, sends a mix of documents
 * (large A4 scans included), line batches and tile streams at concurrency 4 for --seconds, samples
 * the server's resident memory and its main thread's JavaScript heap (from its Prometheus metrics),
 * and prints their course: they must level off, not climb. A heap that climbs is a JavaScript leak;
 * resident memory that climbs over a level heap is native (onnxruntime, libvips, the allocator).
 *   node dist/bench/soak.js [--seconds 300]
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OcrClient, recognizeLargeImage } from '../src/client/index.js';
import { freePort } from '../src/dev/free-port.js';
import { spawnServer } from '../src/dev/server-process.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '300' }, set: { type: 'string', default: '../shared/eval-dev/set' } },
});
const seconds = Number(values.seconds);
const docsDir = path.join(values.set!, 'docs');
const linesDir = path.join(values.set!, 'lines');
const docs = readdirSync(docsDir)
  .filter((f) => /\.(jpe?g|png)$/.test(f))
  .map((f) => readFileSync(path.join(docsDir, f)));
const lines = readdirSync(linesDir)
  .filter((f) => /\.(jpe?g|png)$/.test(f))
  .map((f) => readFileSync(path.join(linesDir, f)));

const rssMiB = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
};

const metricsPort = await freePort();
/** The main thread's V8 heap in use, MiB, as prom-client's default metrics report it. */
async function heapMiB(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)![1]) / 2 ** 20;
}

const server = await spawnServer(['--metrics-port', String(metricsPort)]);
const pid = server.child.pid!;
const client = new OcrClient(`127.0.0.1:${server.port}`, { deadlineMs: 300_000 });
const samples: { t: number; rss: number; heap: number; calls: number }[] = [];
const started = performance.now();
const elapsed = (): number => (performance.now() - started) / 1000;
let calls = 0;
/** Failed calls by their status and message, so that a run says why it failed. */
const failures = new Map<string, number>();

const sample = async (): Promise<void> => {
  const t = elapsed();
  samples.push({ t, rss: rssMiB(pid), heap: await heapMiB(), calls });
};
const sampler = setInterval(() => void sample().catch((err: unknown) => console.error(`sample failed: ${String(err)}`)), 5000);
await Promise.all(
  Array.from({ length: 4 }, async (_, lane) => {
    for (let i = lane; elapsed() < seconds; i += 4) {
      try {
        if (i % 10 === 9) await recognizeLargeImage(client, docs[i % docs.length]!, { tileSize: 1024 });
        else if (i % 5 === 4) await client.recognizeLines(lines.slice((i * 7) % 90, ((i * 7) % 90) + 30));
        else await client.recognize(docs[i % docs.length]!);
        calls++;
      } catch (err) {
        // Counted by their words: the figures in a message (the work ahead, the hint) differ call by call.
        const why = (err instanceof Error ? err.message : String(err)).replace(/\d+/g, 'N').slice(0, 160);
        failures.set(why, (failures.get(why) ?? 0) + 1);
      }
    }
  }),
);
clearInterval(sampler);
await sample();
client.close();
server.child.kill('SIGTERM');

const third = Math.max(1, Math.floor(samples.length / 3));
const mean = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / xs.length;
const course = (what: string, of: (s: (typeof samples)[number]) => number): string => {
  const all = samples.map(of);
  return `mean ${what}, first third ${mean(all.slice(0, third)).toFixed(0)} MiB, last third ${mean(all.slice(-third)).toFixed(0)} MiB, peak ${Math.max(...all).toFixed(0)} MiB`;
};
const failed = [...failures.values()].reduce((a, n) => a + n, 0);
console.log(`${calls} calls in ${elapsed().toFixed(0)} s, ${failed} failed`);
for (const [why, n] of failures) console.log(`  ${n} × ${why}`);
console.log('| t (s) | calls | server RSS (MiB) | main thread JS heap used (MiB) |\n| --- | --- | --- | --- |');
for (const s of samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 12)) === 0 || i === samples.length - 1)) {
  console.log(`| ${s.t.toFixed(0)} | ${s.calls} | ${s.rss.toFixed(0)} | ${s.heap.toFixed(1)} |`);
}
console.log(course('RSS', (s) => s.rss));
console.log(course('JS heap', (s) => s.heap));
process.exit(failed > 0 ? 1 : 0);
