/**
 * `npm run bench:start`: how long `ocr serve` takes from its spawn to SERVING (a grpc.health.v1
 * Check polled every 10 ms, as an orchestrator's probe would), to its HTTP front door ready
 * (/readyz 200, polled likewise) and to all of its workers loaded (its log line), cold (an empty model cache: the graphs are rewritten first) and warm (the cache
 * filled), in interleaved pairs so that drift in this machine's speed falls on both alike. Each
 * start runs with the defaults (HTTP front door included) on free loopback ports, and is stopped
 * with SIGTERM. Acceptance (issue 16): warm at most half of cold, to SERVING (medians).
 *   node dist/bench/start.js [--pairs 4] [--workers N] [--out out/start.json]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { healthClient } from '../src/client/health-client.js';
import { freePort } from '../src/dev/free-port.js';
import { CLI, ROOT } from '../src/dev/repo-paths.js';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '4' },
    workers: { type: 'string' },
    out: { type: 'string', default: path.join(ROOT, 'out', 'start.json') },
  },
});
const pairs = Number(values.pairs);
if (!Number.isInteger(pairs) || pairs < 1) throw new Error('usage: --pairs N (≥ 1) [--workers N]');

interface Start {
  servingMs: number;
  /** The HTTP front door's /readyz answering 200: it opens after gRPC serves. */
  httpReadyMs: number;
  allLoadedMs: number;
}

/** One start of `ocr serve` with `cacheDir`: milliseconds from the spawn to SERVING and to all workers loaded. */
async function start(cacheDir: string): Promise<Start> {
  const [port, httpPort] = [await freePort(), await freePort()];
  const args = [CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--http-port', String(httpPort), '--model-cache', cacheDir];
  const env = { ...process.env };
  delete env.CONSUL_HTTP_ADDR; // a benchmark instance must not join a real cluster
  const spawned = performance.now();
  const child = spawn(process.execPath, [...args, '--log-level', 'info', ...(values.workers ? ['--workers', values.workers] : [])], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const allLoaded = new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('all inference workers loaded')) resolve(performance.now() - spawned);
    });
    child.once('exit', (code) => reject(new Error(`ocr serve exited with ${code} before its workers loaded:\n${stderr}`)));
  });
  allLoaded.catch(() => undefined);
  // Reconnect at once: grpc-js backs off for a second after a refused connection by default.
  const health = healthClient(`127.0.0.1:${port}`, {
    options: { 'grpc.initial_reconnect_backoff_ms': 10, 'grpc.max_reconnect_backoff_ms': 10 },
  });
  const status = (): Promise<string> => health.check('ocr.v1.OcrService', 200).catch(() => 'no answer');
  let servingMs = NaN;
  while (child.exitCode === null) {
    if ((await status()) === 'SERVING') {
      servingMs = performance.now() - spawned;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  health.close();
  let httpReadyMs = NaN;
  while (child.exitCode === null) {
    const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) {
      httpReadyMs = performance.now() - spawned;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const allLoadedMs = await allLoaded;
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`ocr serve exited with ${code} on SIGTERM:\n${stderr}`);
  return { servingMs, httpReadyMs, allLoadedMs };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const warmDir = mkdtempSync(path.join(os.tmpdir(), 'ocr-start-warm-'));
await start(warmDir); // fills the warm cache; not counted
const runs: { cold: Start; warm: Start }[] = [];
for (let i = 0; i < pairs; i++) {
  const coldDir = mkdtempSync(path.join(os.tmpdir(), 'ocr-start-cold-'));
  const cold = await start(coldDir);
  rmSync(coldDir, { recursive: true, force: true });
  const warm = await start(warmDir);
  runs.push({ cold, warm });
  console.error(`pair ${i + 1}: cold ${cold.servingMs.toFixed(0)} ms, warm ${warm.servingMs.toFixed(0)} ms to SERVING`);
}
rmSync(warmDir, { recursive: true, force: true });

const ms = (v: number): string => v.toFixed(0);
const med = (pick: (r: { cold: Start; warm: Start }) => number): number => median(runs.map(pick));
console.log(`\n${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, ${pairs} pairs (cold, then warm), spawn to:`);
console.log(
  '| start | SERVING ms (median) | SERVING ms (each) | HTTP /readyz ms (median) | all workers loaded ms (median) |\n| --- | --- | --- | --- | --- |',
);
for (const kind of ['cold', 'warm'] as const) {
  console.log(
    `| ${kind} | ${ms(med((r) => r[kind].servingMs))} | ${runs.map((r) => ms(r[kind].servingMs)).join(', ')} | ${ms(med((r) => r[kind].httpReadyMs))} | ${ms(med((r) => r[kind].allLoadedMs))} |`,
  );
}
const ratio = med((r) => r.warm.servingMs) / med((r) => r.cold.servingMs);
console.log(`\nwarm / cold to SERVING: ${ratio.toFixed(2)} (acceptance: ≤ 0.5): ${ratio <= 0.5 ? 'met' : 'NOT met'}`);
mkdirSync(path.dirname(values.out!), { recursive: true });
writeFileSync(values.out!, `${JSON.stringify({ pairs, runs, ratio }, null, 2)}\n`);
