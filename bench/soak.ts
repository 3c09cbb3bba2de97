/**
 * `npm run bench:soak`: memory under sustained load. Starts `ocr serve`, sends a mix of documents
 * (large A4 scans included), line batches and tile streams at concurrency 4 for --seconds, samples
 * the server's resident memory, and prints its course: it must level off, not climb.
 *   node dist/bench/soak.js [--seconds 300]
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OcrClient, recognizeLargeImage } from '../src/client/index.js';
import { spawnServer } from '../test/support/process.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '300' }, set: { type: 'string', default: '../shared/eval-dev/set' } } });
const seconds = Number(values.seconds);
const docsDir = path.join(values.set!, 'docs');
const linesDir = path.join(values.set!, 'lines');
const docs = readdirSync(docsDir).filter((f) => /\.(jpe?g|png)$/.test(f)).map((f) => readFileSync(path.join(docsDir, f)));
const lines = readdirSync(linesDir).filter((f) => /\.(jpe?g|png)$/.test(f)).map((f) => readFileSync(path.join(linesDir, f)));

const rssMiB = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
};

const server = await spawnServer();
const pid = server.child.pid!;
const client = new OcrClient(`127.0.0.1:${server.port}`, { deadlineMs: 300_000 });
const samples: { t: number; rss: number; calls: number }[] = [];
const started = performance.now();
const elapsed = (): number => (performance.now() - started) / 1000;
let calls = 0;
let failures = 0;

const sampler = setInterval(() => samples.push({ t: elapsed(), rss: rssMiB(pid), calls }), 5000);
await Promise.all(
  Array.from({ length: 4 }, async (_, lane) => {
    for (let i = lane; elapsed() < seconds; i += 4) {
      try {
        if (i % 10 === 9) await recognizeLargeImage(client, docs[i % docs.length]!, { tileSize: 1024 });
        else if (i % 5 === 4) await client.recognizeLines(lines.slice((i * 7) % 90, ((i * 7) % 90) + 30));
        else await client.recognize(docs[i % docs.length]!);
        calls++;
      } catch {
        failures++;
      }
    }
  }),
);
clearInterval(sampler);
samples.push({ t: elapsed(), rss: rssMiB(pid), calls });
client.close();
server.child.kill('SIGTERM');

const third = Math.max(1, Math.floor(samples.length / 3));
const mean = (xs: { rss: number }[]): number => xs.reduce((a, s) => a + s.rss, 0) / xs.length;
console.log(`${calls} calls in ${elapsed().toFixed(0)} s, ${failures} failed`);
console.log('| t (s) | calls | server RSS (MiB) |\n| --- | --- | --- |');
for (const s of samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 12)) === 0 || i === samples.length - 1)) {
  console.log(`| ${s.t.toFixed(0)} | ${s.calls} | ${s.rss.toFixed(0)} |`);
}
console.log(`mean RSS, first third ${mean(samples.slice(0, third)).toFixed(0)} MiB, last third ${mean(samples.slice(-third)).toFixed(0)} MiB, peak ${Math.max(...samples.map((s) => s.rss)).toFixed(0)} MiB`);
process.exit(failures > 0 ? 1 : 0);
