/**
 * `npm run bench:burst`: issue 15's burst of large uploads. One `ocr serve` with its default flags
 * is warmed up; then --connections clients (one connection each) send --calls concurrent Recognize
 * calls in all of a --mb MB image (src/dev/burst-image.ts) without deadlines, while another process calls
 * GetServerInfo every 50 ms on its own channel (src/dev/latency-probe.ts). Prints the calls'
 * outcomes, the slowest GetServerInfo and how many took over 200 ms, and the server's peak resident
 * memory above its level before (issue 15: 200 ms; + 1.5 GB), taken once it has served pages and
 * released what they freed (at rest), before four calls of the burst's image warm it for the
 * burst; and that memory again --after-s
 * seconds after the burst (issue 15: within 300 MB of the level before, 60 s later).
 *   node dist/bench/burst.js [--calls 100] [--mb 30] [--connections 1] [--after-s 60]
 */
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { OcrCallError, OcrClient } from '../src/client/index.js';
import { burstImage } from '../src/dev/burst-image.js';
import { startLatencyProbe } from '../src/dev/latency-probe.js';
import { residentBytes, watchPeak } from '../src/dev/resident-memory.js';
import { startWarmServer } from '../src/dev/warm-server.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '100' },
    mb: { type: 'string', default: '30' },
    connections: { type: 'string', default: '1' },
    'after-s': { type: 'string', default: '60' },
  },
});
const calls = Number(values.calls);
const bytes = Number(values.mb) * 1e6;
const connections = Number(values.connections);
const afterMs = Number(values['after-s']) * 1000;
if (![calls, connections].every((n) => Number.isInteger(n) && n >= 1) || !(bytes > 0) || !(afterMs >= 0)) {
  throw new Error('usage: --calls N (≥ 1) --mb MB (> 0) --connections N (≥ 1) --after-s S (≥ 0)');
}

const { noise, image } = await burstImage(bytes);

const { server, pid, target, client, startedBytes, level: before } = await startWarmServer();
// The level before is that of a server in ordinary service (warmed with pages); the burst's own
// image then warms the paths it takes, so that the latency measured is not that of a first call.
await Promise.all([1, 2, 3, 4].map(() => client.recognize(noise)));

// grpc-js shares one connection between channels to the same address unless each keeps its own pool.
const clients = [
  client,
  ...Array.from(
    { length: connections - 1 },
    () =>
      new OcrClient(target, {
        deadlineMs: 600_000,
        maxAttempts: 1,
        keepaliveTimeMs: Infinity,
        channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
      }),
  ),
];
const memory = watchPeak(pid);
const probe = await startLatencyProbe(target);
const started = performance.now();
const outcomes: Record<string, number> = {};
await Promise.all(
  Array.from({ length: calls }, (_, i) =>
    clients[i % connections]!.recognize(image)
      .then(
        () => 'OK',
        (err: unknown) => (err instanceof OcrCallError ? err.code : 'CLIENT_ERROR'),
      )
      .then((code) => (outcomes[code] = (outcomes[code] ?? 0) + 1)),
  ),
);
const seconds = (performance.now() - started) / 1000;
const { slowestMs, latenciesMs } = await probe.stop();
const peak = memory.stop();
const peakAbove = peak - before;
clients.forEach((c) => c.close());
// Issue 15: within 300 MB of the level before, 60 s after the attack.
await delay(afterMs);
const afterAbove = residentBytes(pid) - before;
server.child.kill('SIGTERM');

const sorted = latenciesMs.slice().sort((a, b) => a - b);
console.log(
  `${calls} concurrent Recognize calls of a ${values.mb} MB image on ${connections} connection(s), no deadline: ${seconds.toFixed(1)} s`,
);
console.log(
  `RSS just started ${(startedBytes / 1e9).toFixed(2)} GB, before ${(before / 1e9).toFixed(2)} GB (warmed with pages), peak ${(peak / 1e9).toFixed(2)} GB`,
);
console.log(`| outcomes | GetServerInfo: calls, over 200 ms, p50, p99, slowest | peak RSS above before | ${values['after-s']} s later |`);
console.log(`| --- | --- | --- | --- |`);
console.log(
  `| ${Object.entries(outcomes)
    .map(([code, n]) => `${code} ${n}`)
    .join(
      ', ',
    )} | ${sorted.length}, ${sorted.filter((ms) => ms > 200).length}, ${Math.round(sorted[Math.floor(sorted.length / 2)] ?? NaN)} ms, ${Math.round(sorted[Math.floor(sorted.length * 0.99)] ?? NaN)} ms, ${Math.round(slowestMs)} ms | ${(peakAbove / 1e9).toFixed(2)} GB | ${(afterAbove / 1e9).toFixed(2)} GB |`,
);
console.log(
  `issue 15: slowest ≤ 200 ms: ${slowestMs <= 200 ? 'met' : 'NOT met'}; peak ≤ before + 1.5 GB: ${peakAbove <= 1.5e9 ? 'met' : 'NOT met'}; ` +
    `${values['after-s']} s later within 300 MB: ${afterAbove <= 300e6 ? 'met' : 'NOT met'}`,
);
process.exit(0);
