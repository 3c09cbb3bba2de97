/**
 * `npm run bench:http`: the HTTP front door against gRPC, and the gateway against Nginx.
 *   1. One `ocr serve`: the development documents at concurrency 4 through gRPC (the SDK) and
 *      through POST /api/ocr (multipart, as the Python client sends), passes alternating in ABBA
 *      order so that drift in this machine's speed falls on both alike.
 *   2. Two instances: the same documents at --callers through `ocr gateway` (least_request) and
 *      through Nginx `least_conn` proxying to the instances' HTTP ports, the replaced setup's
 *      balancer, alternating likewise.
 * Per path: documents/s, p50 and p90 latency, failures, and the CPU time a document took in the front
 * door (gateway or Nginx), in the instances and in this process. Prints Markdown tables for docs/BENCHMARKS.md.
 *   node dist/bench/http.js [--passes N] [--callers C] [--set DIR]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OcrClient } from '../src/client/index.js';
import { freePort } from '../src/dev/free-port.js';
import { cpuSeconds, withChildren } from '../src/dev/process-cpu.js';
import { CLI, EVAL_DEV, ROOT } from '../src/dev/repo-paths.js';
import { spawnServer, type ServerProcess } from '../src/dev/server-process.js';
import { mapLimit } from '../src/shared/map-limit.js';
import { sharedMachineArgs } from '../src/cli/cluster-command.js';

const { values } = parseArgs({
  options: {
    passes: { type: 'string', default: '4' },
    callers: { type: 'string', default: '8' },
    set: { type: 'string', default: EVAL_DEV },
  },
});
const passes = Number(values.passes);
const callers = Number(values.callers);
const docsDir = path.join(values.set!, 'docs');
const docs = readdirSync(docsDir)
  .filter((f) => /\.(jpe?g|png)$/.test(f))
  .sort()
  .map((f) => readFileSync(path.join(docsDir, f)));

const children: ChildProcess[] = [];
/** Nginx masters: SIGTERM, on which each stops its workers; killed outright, a master left them running, listening, after the benchmark. */
const nginxMasters: ChildProcess[] = [];
process.on('exit', () => {
  children.forEach((c) => c.kill('SIGKILL'));
  nginxMasters.forEach((c) => c.kill('SIGTERM'));
});

interface Tally {
  ms: number[];
  seconds: number;
  failures: number;
  /** CPU seconds used during the passes: by this process (the load generator), by the path's front door, by the instances. */
  cpu: { client: number; front: number; instances: number };
}

type Call = (doc: Buffer) => Promise<boolean>;

/** A way in: how to call it, and the processes that serve it (pids; the front door's none where the instance is called directly). */
interface Path {
  call: Call;
  front: number[];
  instances: number[];
}

const newTally = (): Tally => ({ ms: [], seconds: 0, failures: 0, cpu: { client: 0, front: 0, instances: 0 } });
const cpuOf = (pids: number[]): number => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);

/** One pass: every document once, `concurrency` at a time; latencies of the answered calls. */
async function pass(path: Path, concurrency: number, tally: Tally): Promise<void> {
  const before = { client: process.cpuUsage(), front: cpuOf(path.front), instances: cpuOf(path.instances) };
  const started = performance.now();
  await mapLimit(docs, concurrency, async (doc) => {
    const t0 = performance.now();
    const ok = await path.call(doc).catch(() => false);
    if (ok) tally.ms.push(performance.now() - t0);
    else tally.failures++;
  });
  tally.seconds += (performance.now() - started) / 1000;
  const client = process.cpuUsage(before.client);
  tally.cpu.client += (client.user + client.system) / 1e6;
  tally.cpu.front += cpuOf(path.front) - before.front;
  tally.cpu.instances += cpuOf(path.instances) - before.instances;
}

/** Passes of each path in ABBA order; a tally per path. */
async function alternate(paths: Path[], concurrency: number): Promise<Tally[]> {
  const tallies = paths.map(newTally);
  for (let p = 0; p < passes; p++) {
    const order = p % 2 === 0 ? paths.map((_, i) => i) : paths.map((_, i) => paths.length - 1 - i);
    for (const i of order) await pass(paths[i]!, concurrency, tallies[i]!);
  }
  return tallies;
}

/** One pass of each path, not counted: connections open, models and caches warm. */
async function warmUp(paths: Path[]): Promise<void> {
  for (const p of paths) await pass(p, 4, newTally());
}

const quantile = (ms: number[], q: number): number => {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};

/** CPU milliseconds a document, by process. */
const perDoc = (cpuS: number, t: Tally): string => (t.ms.length === 0 ? '–' : ((1000 * cpuS) / t.ms.length).toFixed(0));

function row(name: string, t: Tally): string {
  return `| ${name} | ${(t.ms.length / t.seconds).toFixed(2)} | ${quantile(t.ms, 0.5).toFixed(0)} | ${quantile(t.ms, 0.9).toFixed(0)} | ${t.failures} | ${perDoc(t.cpu.front, t)} / ${perDoc(t.cpu.instances, t)} / ${perDoc(t.cpu.client, t)} |`;
}

/** POST /api/ocr with the document as the multipart field `image`. */
function httpCall(base: string): Call {
  return async (doc) => {
    const body = new FormData();
    body.append('image', new Blob([doc]), 'doc.jpg');
    const res = await fetch(`${base}/api/ocr`, { method: 'POST', body });
    const json = (await res.json()) as { code: number };
    return res.ok && json.code === 0;
  };
}

async function spawnListening(args: string[], pattern: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(args[0]!, args.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
  return { child, match };
}

/** Nginx as the replaced setup ran it: least_conn over the instances' HTTP ports. */
async function startNginx(servers: ServerProcess[]): Promise<{ child: ChildProcess; base: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-nginx-'));
  const port = await freePort();
  const conf = `
daemon off;
worker_processes 1;
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
  client_max_body_size 32m;
  client_body_buffer_size 32m;
  upstream ocr { least_conn; ${servers.map((s) => `server 127.0.0.1:${s.httpPort!};`).join(' ')} keepalive 32; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://ocr; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_read_timeout 60s; }
  }
}`;
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  // Nginx's workers run as nobody: they must reach the temporary paths under the directory.
  chmodSync(dir, 0o755);
  const child = spawn('nginx', ['-c', path.join(dir, 'nginx.conf')], { stdio: 'inherit' });
  nginxMasters.push(child);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`${base}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { child, base };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not start: see ${dir}/error.log`);
}

const header =
  '| path | docs/s | p50 ms | p90 ms | failed | CPU ms a document: front door / instances / load generator |\n| --- | --- | --- | --- | --- | --- |';

// 1. HTTP against gRPC on one instance.
const one = await spawnServer();
const client = new OcrClient(`127.0.0.1:${one.port}`, { deadlineMs: 120_000 });
const direct = (call: Call): Path => ({ call, front: [], instances: [one.child.pid!] });
const onePaths = [
  direct(async (doc) => (await client.recognize(doc)).lines.length >= 0),
  direct(httpCall(`http://127.0.0.1:${one.httpPort!}`)),
];
await warmUp(onePaths);
const [grpcTally, httpTally] = await alternate(onePaths, 4);
client.close();
one.child.kill('SIGTERM');
await once(one.child, 'exit');
console.log(`\nOne instance, concurrency 4, ${passes} passes of ${docs.length} documents each way (ABBA):\n${header}`);
console.log(row('gRPC (SDK)', grpcTally!));
console.log(row('HTTP POST /api/ocr (multipart)', httpTally!));
console.log(
  `HTTP / gRPC documents/s: ${(httpTally!.ms.length / httpTally!.seconds / (grpcTally!.ms.length / grpcTally!.seconds)).toFixed(3)}`,
);

// 2. The gateway against Nginx least_conn over two instances.
// The cores shared out between the two instances, as `ocr cluster` does.
const workers = Math.max(1, Math.floor(os.availableParallelism() / 2));
const pair = [await spawnServer(sharedMachineArgs(workers)), await spawnServer(sharedMachineArgs(workers))];
// Killed with the rest when this process exits: an instance left behind would take the next run's CPU.
children.push(...pair.map((s) => s.child));
const gateway = await spawnListening(
  [
    process.execPath,
    CLI,
    'gateway',
    '--target',
    `ipv4:${pair.map((s) => `127.0.0.1:${s.port}`).join(',')}`,
    '--http-port',
    '0',
    '--log-level',
    'warn',
  ],
  /listening on (http:\/\/\S+) /,
);
const nginx = await startNginx(pair);
const instances = pair.map((s) => s.child.pid!);
const viaGateway: Path = { call: httpCall(gateway.match[1]!), front: [gateway.child.pid!], instances };
const viaNginx: Path = { call: httpCall(nginx.base), front: withChildren(nginx.child.pid!), instances };
await warmUp([viaGateway, viaNginx]);
const [gatewayTally, nginxTally] = await alternate([viaGateway, viaNginx], callers);
console.log(
  `\nTwo instances (${workers} workers each, as ocr cluster runs them), ${callers} callers, ${passes} passes each way (ABBA):\n${header}`,
);
console.log(row('ocr gateway (least_request)', gatewayTally!));
console.log(row('Nginx least_conn', nginxTally!));
console.log(
  `gateway / Nginx documents/s: ${(gatewayTally!.ms.length / gatewayTally!.seconds / (nginxTally!.ms.length / nginxTally!.seconds)).toFixed(3)}`,
);
process.exit(0);
