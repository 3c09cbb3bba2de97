/**
 * `npm run bench:cluster`: the cluster on this machine, in one run.
 *   1. throughput with 1..N instances (1 worker × 1 thread each), client-side round_robin;
 *   2. client-side round_robin and least_request against Nginx `least_conn` + `grpc_pass`
 *      (Debian's nginx, started here) over the same N instances, passes interleaved: docs/s, p50, p99;
 *      skipped, and said so, on a machine without nginx;
 *   3. one large page's latency read as tiles over 1 instance and spread over 2.
 * Writes docs/cluster-scaling.svg and prints Markdown for docs/BENCHMARKS.md.
 *   node dist/bench/cluster.js [--instances N] [--steps 1,2,4,8] [--passes P]
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OcrClient, recognizeLargeImageSpread } from '../src/client/index.js';
import { mapLimit } from '../src/shared/map-limit.js';
import { spawnServer, type ServerProcess } from '../src/dev/server-process.js';
import { waitFor } from '../src/dev/wait-for.js';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: String(os.availableParallelism()) },
    steps: { type: 'string' },
    passes: { type: 'string', default: '2' },
    set: { type: 'string', default: path.resolve('../shared/eval-dev/set') },
  },
});
const maxInstances = Number(values.instances);
const steps = values.steps ? values.steps.split(',').map(Number) : Array.from({ length: maxInstances }, (_, i) => i + 1);
const passes = Number(values.passes);
const docsDir = path.join(values.set!, 'docs');
const docs = readdirSync(docsDir)
  .filter((f) => /\.(jpe?g|png)$/.test(f))
  .sort()
  .map((f) => readFileSync(path.join(docsDir, f)));
const page = readFileSync(path.join(docsDir, 'd007_form.jpg'));

const quantile = (xs: number[], q: number): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

interface Load {
  seconds: number;
  calls: number;
  latencies: number[];
}

/** One pass: the documents, repeated so that each of the concurrent calls has four to send (on many cores). */
async function docsLoad(client: OcrClient, concurrency: number, into: Load): Promise<void> {
  const pass = Array.from({ length: Math.ceil((4 * concurrency) / docs.length) }, () => docs).flat();
  const started = performance.now();
  await mapLimit(pass, concurrency, async (doc) => {
    const t = performance.now();
    await client.recognize(doc);
    into.latencies.push(performance.now() - t);
  });
  into.seconds += (performance.now() - started) / 1000;
  into.calls += pass.length;
}

const newLoad = (): Load => ({ seconds: 0, calls: 0, latencies: [] });
const start = (n: number): Promise<ServerProcess[]> =>
  Promise.all(Array.from({ length: n }, () => spawnServer(['--workers', '1', '--threads', '1', '--detector-threads', '1'])));
const stop = (servers: ServerProcess[]): void => servers.forEach((s) => s.child.kill('SIGKILL'));
const targetOf = (servers: ServerProcess[]): string => `ipv4:${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;

// 1. Scaling.
const scaling: { n: number; docsPerSec: number }[] = [];
for (const n of steps) {
  const servers = await start(n);
  const client = new OcrClient(targetOf(servers), { loadBalancing: 'round_robin', deadlineMs: 300_000 });
  await mapLimit(docs.slice(0, 2 * n), 2 * n, (d) => client.recognize(d));
  const load = newLoad();
  for (let p = 0; p < passes; p++) await docsLoad(client, 2 * n, load);
  scaling.push({ n, docsPerSec: load.calls / load.seconds });
  client.close();
  stop(servers);
  console.error(`scaling: ${n} instance(s) ${(load.calls / load.seconds).toFixed(2)} docs/s`);
}

// 2. Client-side balancing against Nginx least_conn over the same instances.
const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => {
  try {
    execFileSync(p, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
if (!nginxBin) console.error('nginx not found (apt-get install nginx-light): the comparison with Nginx is skipped');
const concurrency = 4 * maxInstances;
const sides = nginxBin ? await balancingAgainstNginx(nginxBin) : [];

async function balancingAgainstNginx(nginxBin: string): Promise<{ name: string; load: Load }[]> {
  const servers = await start(maxInstances);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-nginx-'));
  const nginxPort = 20_000 + (process.pid % 10_000);
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream ocr {
    least_conn;
${servers.map((s) => `    server 127.0.0.1:${s.port};`).join('\n')}
  }
  server {
    listen 127.0.0.1:${nginxPort} http2;
    client_max_body_size 64m;
    location / {
      grpc_pass grpc://ocr;
      grpc_read_timeout 300s;
      grpc_send_timeout 300s;
    }
  }
}
`,
  );
  const nginx = spawn(nginxBin, ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  const balanced = (['round_robin', 'least_request'] as const).map((lb) => ({
    lb,
    client: new OcrClient(targetOf(servers), { loadBalancing: lb, deadlineMs: 300_000 }),
  }));
  const proxied = new OcrClient(`127.0.0.1:${nginxPort}`, { deadlineMs: 300_000 });
  await waitFor(async () => (await proxied.getServerInfo({ deadlineMs: 1000 })).instanceId !== '', 20_000, 'nginx proxying');
  const sides = [
    ...balanced.map((b) => ({ name: `client-side ${b.lb}`, client: b.client })),
    { name: 'Nginx least_conn, grpc_pass', client: proxied },
  ].map((side) => ({ ...side, load: newLoad() }));
  for (const side of sides) await mapLimit(docs.slice(0, concurrency), concurrency, (d) => side.client.recognize(d));
  for (let p = 0; p < passes; p++) for (const side of sides) await docsLoad(side.client, concurrency, side.load);
  sides.forEach((side) => side.client.close());
  nginx.kill('SIGTERM');
  stop(servers);
  return sides;
}

// 3. A large page over 1 and 2 instances.
const split: { n: number; ms: number }[] = [];
for (const n of [1, Math.min(2, maxInstances)]) {
  const group = await start(n);
  const client = new OcrClient(targetOf(group), { loadBalancing: 'round_robin', deadlineMs: 300_000 });
  await recognizeLargeImageSpread(client, page, { tileSize: 1024, streams: n });
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await recognizeLargeImageSpread(client, page, { tileSize: 1024, streams: n });
    times.push(performance.now() - t);
  }
  split.push({ n, ms: quantile(times, 0.5) });
  client.close();
  stop(group);
}

// Chart: docs/s against instances, with the ideal n × one instance.
const one = scaling[0]!.docsPerSec;
const W = 420;
const H = 260;
const most = scaling[scaling.length - 1]!.n;
const top = Math.max(...scaling.map((s) => s.docsPerSec), one * most) * 1.15;
// Bars stand at their step's place, not at n: steps may be 1, 2, 4, 8, 16.
const x = (n: number): number => 50 + ((steps.indexOf(n) + 0.5) * (W - 70)) / steps.length;
const y = (v: number): number => H - 30 - (v / top) * (H - 60);
const bars = scaling
  .map(
    (s) =>
      `<rect x="${x(s.n) - 22}" y="${y(s.docsPerSec)}" width="44" height="${H - 30 - y(s.docsPerSec)}" fill="#4a7bd0"/>` +
      `<text x="${x(s.n)}" y="${y(s.docsPerSec) - 5}" text-anchor="middle" font-size="12">${s.docsPerSec.toFixed(2)}</text>` +
      `<text x="${x(s.n)}" y="${H - 12}" text-anchor="middle" font-size="12">${s.n}</text>`,
  )
  .join('');
const ideal = scaling.map((s) => `${x(s.n)},${y(one * s.n)}`).join(' ');
writeFileSync(
  path.resolve('docs/cluster-scaling.svg'),
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">Documents/s by instances (1 worker × 1 thread each)</text>
<line x1="40" y1="${H - 30}" x2="${W - 10}" y2="${H - 30}" stroke="#333"/>
${bars}
<polyline points="${ideal}" fill="none" stroke="#d04a4a" stroke-dasharray="4 3"/>
<text x="${W - 12}" y="${y(one * most) - 6}" text-anchor="end" font-size="11" fill="#d04a4a">n × one instance</text>
</svg>
`,
);

const f = (v: number, d = 2): string => v.toFixed(d);
console.log(
  `Machine: ${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}; ${passes} passes of the ${docs.length} documents (repeated to four times the concurrency) per measurement.\n`,
);
console.log('| instances | docs/s | vs n × one instance |\n| --- | --- | --- |');
for (const s of scaling) console.log(`| ${s.n} | ${f(s.docsPerSec)} | ${f(s.docsPerSec / (s.n * one), 3)} |`);
const row = (name: string, l: Load): string =>
  `| ${name} | ${f(l.calls / l.seconds)} | ${f(quantile(l.latencies, 0.5), 0)} | ${f(quantile(l.latencies, 0.99), 0)} |`;
if (sides.length > 0) {
  console.log(
    `\n${maxInstances} instances, concurrency ${concurrency}:\n\n| balancing | docs/s | p50 ms | p99 ms |\n| --- | --- | --- | --- |`,
  );
  for (const side of sides) console.log(row(side.name, side.load));
}
console.log(
  `\nLarge page (${page.length} bytes, d007_form.jpg 2480×3508, 1024-px tiles), median of 3:\n\n| instances | ms |\n| --- | --- |`,
);
for (const s of split) console.log(`| ${s.n} | ${f(s.ms, 0)} |`);
process.exit(0);
