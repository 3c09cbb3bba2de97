import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { healthClient } from '../../src/client/health-client.js';
import { OcrCallError, OcrClient } from '../../src/client/index.js';
import { freePort, withTakenPort } from '../../src/dev/free-port.js';
import { runCli, spawnServer } from '../../src/dev/server-process.js';
import { OcrEngine } from '../../src/engine/index.js';
import { DEFAULT_LIMITS, startServer, type RunningServer } from '../../src/server/server.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { WORKER_NICE } from '../../src/engine/runtime/thread-priority.js';

/**
 * A server binds its ports and answers health and reflection while its workers load the models
 * (server.ts, starting-service.ts), and serves once the first worker has loaded them.
 */
describe('ocr serve while it starts', function () {
  this.timeout(120_000);
  let cacheDir: string;
  beforeEach(() => (cacheDir = mkdtempSync(path.join(os.tmpdir(), 'ocr-start-'))));
  afterEach(() => rmSync(cacheDir, { recursive: true, force: true }));

  it('answers NOT_SERVING and UNAVAILABLE (gRPC) and 503 (HTTP) until the models have loaded, then serves', async () => {
    const [port, httpPort] = [await freePort(), await freePort()];
    const target = `127.0.0.1:${port}`;
    // The engine's start, held until the server has been looked at.
    let loaded!: (engine: OcrEngine) => void;
    const engine = new Promise<OcrEngine>((resolve) => (loaded = resolve));
    const starting = startServer({ host: '127.0.0.1', port, httpPort, logLevel: 'silent', engine, limits: DEFAULT_LIMITS });
    const health = healthClient(target);
    const client = new OcrClient(target, { maxAttempts: 1, deadlineMs: 5000 });
    const check = (): Promise<string> => health.check('ocr.v1.OcrService', 5000);
    let running: RunningServer | undefined;
    try {
      let first = '';
      await waitFor(async () => (first = await check()) !== '', 30_000, 'a health answer');
      expect(first).to.equal('NOT_SERVING');
      const early = await client.getServerInfo().then(
        () => null,
        (err: unknown) => err,
      );
      expect(early).to.be.instanceOf(OcrCallError);
      expect((early as OcrCallError).code).to.equal('UNAVAILABLE');
      expect((early as OcrCallError).message).to.match(/starting: its models are still loading/);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).ok, 30_000, 'the HTTP port');
      const readyz = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      expect(readyz.status).to.equal(503);
      // Starting, not draining: a probe's log should not say the instance is on its way out.
      expect(await readyz.json()).to.deep.equal({ status: 'starting' });
      const api = await fetch(`http://127.0.0.1:${httpPort}/api/info`);
      expect(api.status).to.equal(503);
      expect(((await api.json()) as { msg: string }).msg).to.match(/starting/);

      loaded(await OcrEngine.create({ workers: 1, detectorThreads: 1 }));
      running = await starting;
      expect(await check()).to.equal('SERVING');
      expect((await client.getServerInfo()).workers).to.equal(1);
      expect((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status).to.equal(200);
    } finally {
      client.close();
      health.close();
      await running?.shutdown(1000);
    }
  });

  it('says where it listens on an IPv6 address as host:port, the address in brackets', async () => {
    const server = await spawnServer(['--host', '::1', '--workers', '1', '--model-cache', cacheDir]);
    try {
      expect(server.listening).to.match(/^listening on \[::1\]:\d+ instance \S+ http \[::1\]:\d+$/);
      expect((await fetch(`http://[::1]:${server.httpPort}/healthz`)).status).to.equal(200);
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('exits 0 on SIGTERM as soon as it serves, while its other workers still load the models', async () => {
    const server = await spawnServer(['--workers', '3', '--model-cache', cacheDir]);
    server.child.kill('SIGTERM');
    const [code, signal] = (await once(server.child, 'exit')) as [number | null, string | null];
    expect({ code, signal }, server.stderr()).to.deep.equal({ code: 0, signal: null });
  });

  it('runs its inference workers below the main thread in CPU priority (Linux: nice per thread)', async function () {
    if (process.platform !== 'linux') this.skip();
    const server = await spawnServer(['--workers', '2', '--model-cache', cacheDir]);
    const pid = server.child.pid!;
    // Field 19 of a thread's stat line, counted after its name (which ends with ')').
    const nice = (tid: string): number => Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    const lowered = (): string[] => readdirSync(`/proc/${pid}/task`).filter((tid) => nice(tid) === WORKER_NICE);
    try {
      // Each worker thread, and the threads its onnxruntime sessions start.
      await waitFor(() => lowered().length >= 2, 60_000, 'two threads at the nice of the workers');
      expect(nice(String(pid)), 'the main thread').to.equal(0);
    } finally {
      server.child.kill('SIGTERM');
      await once(server.child, 'exit');
    }
  });

  it('stops its start with what to do when the gRPC port is taken', async () => {
    await withTakenPort(async (busy) => {
      const r = await runCli([
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        String(busy),
        '--http-port',
        '0',
        '--model-cache',
        cacheDir,
        '--workers',
        '1',
      ]);
      expect(r.code).to.equal(1);
      expect(r.stdout, 'no listening line').to.equal('');
      expect(r.stderr).to.contain(`ocr: cannot listen on 127.0.0.1:${busy}: the port is in use; choose another port with --port\n`);
      // Beside the JSON logs, that line alone: not grpc-js's own before it ("E No address added out of total 1 resolved").
      const plain = r.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('{'));
      expect(plain).to.deep.equal([`ocr: cannot listen on 127.0.0.1:${busy}: the port is in use; choose another port with --port`]);
    });
  });

  it('stops its start naming --api-keys when the key file cannot be read', async () => {
    const missing = path.join(cacheDir, 'keys.json');
    const r = await runCli([
      'serve',
      '--port',
      '0',
      '--http-port',
      '0',
      '--api-keys',
      missing,
      '--model-cache',
      cacheDir,
      '--workers',
      '1',
    ]);
    expect(r.code).to.equal(1);
    expect(r.stdout, 'no listening line').to.equal('');
    expect(r.stderr).to.match(new RegExp(`^ocr: ${missing}: ENOENT: .*; --api-keys takes a key file, a JSON list of`));
  });

  it("stops its start naming Consul's environment variables when what they hold is wrong", async () => {
    const args = ['serve', '--port', '0', '--http-port', '0', '--model-cache', cacheDir, '--workers', '1'];
    const badAddress = await runCli(args, { ...process.env, CONSUL_HTTP_ADDR: 'http://bad host:8500' });
    expect(badAddress.code).to.equal(1);
    expect(badAddress.stderr).to.match(/^ocr: CONSUL_HTTP_ADDR: not a Consul HTTP address: "http:\/\/bad host:8500"/);
    const missingCa = path.join(cacheDir, 'consul-ca.pem');
    const badCa = await runCli(args, { ...process.env, CONSUL_HTTP_ADDR: '127.0.0.1:1', CONSUL_CACERT: missingCa });
    expect(badCa.code).to.equal(1);
    expect(badCa.stdout, 'no listening line').to.equal('');
    expect(badCa.stderr).to.match(new RegExp(`^ocr: cannot read CONSUL_CACERT ${missingCa}: ENOENT`));
  });

  it("never prints a URL's password it names when it stops its start: --jwks, --consul, CONSUL_HTTP_ADDR", async () => {
    const args = ['serve', '--port', '0', '--http-port', '0', '--model-cache', cacheDir, '--workers', '1'];
    const failures = [
      await runCli([...args, '--jwks', 'https://alice:s3cret@idp.example/jwks.json', '--jwt-issuer', 'i', '--jwt-audience', 'a']),
      await runCli([...args, '--consul', 'ftp://alice:s3cret@consul.example:8500']),
      await runCli(args, { ...process.env, CONSUL_HTTP_ADDR: 'consul://alice:s3cret@consul.example:8500' }),
    ];
    for (const r of failures) {
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^ocr: /);
      expect(r.stderr).to.include('alice:***@').and.not.include('s3cret');
    }
  });

  it('stops its start with what to do when the HTTP port is taken', async () => {
    await withTakenPort(async (busy) => {
      const r = await runCli([
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--http-port',
        String(busy),
        '--model-cache',
        cacheDir,
        '--workers',
        '1',
      ]);
      expect(r.code).to.equal(1);
      expect(r.stdout, 'no listening line').to.equal('');
      expect(r.stderr).to.match(
        new RegExp(`cannot serve HTTP on 127\\.0\\.0\\.1:${busy}: .*choose another port with --http-port, or --no-http`),
      );
    });
  });
});
