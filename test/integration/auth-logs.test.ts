import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { OcrCallError, OcrClient } from '../../src/client/index.js';
import { freePort } from '../../src/dev/free-port.js';
import { CLI, ROOT } from '../../src/dev/repo-paths.js';
import { runCli, spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { textImage } from '../support/images.js';

/** `ocr api-key create`, through the command line: the key (first line) and its entry (second). */
async function createKey(name: string, scopes: string[], file: string): Promise<string> {
  const { code, stdout, stderr } = await runCli(['api-key', 'create', '--name', name, '--scopes', ...scopes, '--add-to', file]);
  expect(code, stderr).to.equal(0);
  const [key, entry] = stdout.trim().split('\n');
  expect(JSON.parse(entry!)).to.include({ name });
  expect(entry).not.to.include(key!);
  expect(stderr).to.include('shown this once');
  return key!;
}

/** Every way a secret could show in a log: whole, or any 12 characters of it. */
function expectAbsent(log: string, secret: string, where: string): void {
  for (let i = 0; i + 12 <= secret.length; i += 4)
    expect(log.includes(secret.slice(i, i + 12)), `${where} holds part of a token`).to.equal(false);
}

describe('tokens never reach a log line', function () {
  this.timeout(240_000);
  let dir: string;
  let keyFile: string;
  let reader: string;
  let admin: string;
  let server: ServerProcess | undefined;
  let metricsPort: number;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-auth-logs-'));
    keyFile = path.join(dir, 'keys.json');
    reader = await createKey('reader', ['ocr:read'], keyFile);
    admin = await createKey('ops', ['ocr:admin'], keyFile);
    const entries = JSON.parse(readFileSync(keyFile, 'utf8')) as { name: string; hash: string }[];
    expect(entries.map((e) => e.name)).to.deep.equal(['reader', 'ops']);
    expect(readFileSync(keyFile, 'utf8')).not.to.include(reader);
    metricsPort = await freePort();
    server = await spawnServer(['--api-keys', keyFile, '--log-level', 'trace', '--metrics-port', String(metricsPort), '--quota-rps', '50']);
  });
  after(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await once(server.child, 'exit');
    }
  });

  it('serves and refuses calls with tokens of every kind, and no log line of the server or the gateway holds any of them', async () => {
    const line = await textImage('Token 42');
    const target = `127.0.0.1:${server!.port}`;
    const wrong = `ocr_${'W'.repeat(43)}`;
    const good = new OcrClient(target, { token: reader });
    const bad = new OcrClient(target, { token: wrong, maxAttempts: 1 });
    try {
      expect((await good.recognizeLines([line])).results[0]!.text).to.include('42');
      const refused = await bad
        .recognizeLines([line], {}, { requestId: 'refused-for-its-token' })
        .catch((err: unknown) => err as OcrCallError);
      expect(refused).to.be.instanceOf(OcrCallError);
      expect((refused as OcrCallError).code).to.equal('UNAUTHENTICATED');
    } finally {
      good.close();
      bad.close();
    }
    const http = `http://127.0.0.1:${server!.httpPort!}`;
    for (const authorization of [`Bearer ${reader}`, `Bearer ${wrong}`, `Basic ${reader}`, `Bearer ${reader} ${wrong}`, `${reader}`]) {
      await fetch(`${http}/api/info`, { headers: { authorization } });
    }
    // The metrics port asks for a token as the HTTP port's /metrics does: ocr:admin.
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).to.equal(401);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { authorization: `Bearer ${reader}` } })).status).to.equal(
      403,
    );
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
    expect(metrics.status).to.equal(200);
    expect(await metrics.text()).to.include('ocr_requests_total{method="RecognizeLines",code="UNAUTHENTICATED"}');

    // The gateway, with tokens of its own and one for the instances.
    const gateway = spawn(
      process.execPath,
      [CLI, 'gateway', '--target', target, '--http-port', '0', '--log-level', 'trace', '--api-keys', keyFile, '--token', reader],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let gatewayLog = '';
    gateway.stderr.on('data', (d: Buffer) => (gatewayLog += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      gateway.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/\S+) /.exec(out);
        if (m) resolve(m[1]!);
      });
      gateway.once('exit', (code) => reject(new Error(`ocr gateway exited with ${code}: ${gatewayLog}`)));
    });
    try {
      const post = (authorization?: string): Promise<Response> => {
        const body = new FormData();
        body.append('image', new Blob([line]), 'line.png');
        return fetch(`${url}/api/ocr/lines`, { method: 'POST', body, headers: authorization ? { authorization } : {} });
      };
      expect((await post()).status).to.equal(401);
      expect((await post(`Bearer ${wrong}`)).status).to.equal(401);
      expect((await post(`Bearer ${admin}`)).status).to.equal(403);
      expect((await post(`Bearer ${reader}`)).status).to.equal(200);
    } finally {
      gateway.kill('SIGTERM');
      await once(gateway, 'exit');
    }
    // Its refusals logged as every HTTP refusal is: the HTTP status, the gRPC code, the route.
    const refusals = gatewayLog
      .split('\n')
      .filter((l) => l.includes('"msg":"refused"'))
      .map((l) => JSON.parse(l) as { status: unknown; code: unknown; route: unknown });
    expect(refusals.map(({ status, code, route }) => [status, code, route])).to.deep.equal([
      [401, 'UNAUTHENTICATED', '/api/ocr/lines'],
      [401, 'UNAUTHENTICATED', '/api/ocr/lines'],
      [403, 'PERMISSION_DENIED', '/api/ocr/lines'],
    ]);

    server!.child.kill('SIGTERM');
    await once(server!.child, 'close'); // Not 'exit': its last log lines may still be in the pipe then.
    const serverLog = server!.stderr();
    expect(serverLog).to.include('"msg":"refused"');
    expect(serverLog).to.include('unknown API key');
    // A refusal for the token is tied to its call as any other refusal is: its request id, method, code and time.
    const grpcRefusal = serverLog
      .split('\n')
      .filter((l) => l.includes('"msg":"refused"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.method === 'RecognizeLines');
    expect(grpcRefusal).to.deep.include({ requestId: 'refused-for-its-token', code: 'UNAUTHENTICATED' });
    expect(grpcRefusal!.ms).to.be.a('number');
    for (const secret of [reader, admin, wrong]) {
      expectAbsent(serverLog, secret, 'the server log');
      expectAbsent(gatewayLog, secret, 'the gateway log');
    }
    expect(serverLog).not.to.match(/Bearer [A-Za-z0-9]/);
    expect(gatewayLog).not.to.match(/Bearer [A-Za-z0-9]/);
  });
});
