import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { spawnGateway, spawnServer, type GatewayProcess, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { DEFAULT_CONNECTION_LIMITS } from '../../src/server/connection-limits.js';
import { consulForTests, healthService, type TestConsul } from '../support/consul.js';
import { silentConnections } from '../support/silent-connections.js';

const image = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));

async function ocr(url: string): Promise<{ status: number; instance: string; text: string }> {
  const body = new FormData();
  body.append('image', new Blob([image]), 'line.png');
  const res = await fetch(`${url}/api/ocr`, { method: 'POST', body });
  const json = (await res.json()) as { instance_id?: string; msg: string; data?: { text: string }[] };
  return { status: res.status, instance: json.instance_id ?? '', text: json.data?.map((l) => l.text).join('') ?? json.msg };
}

/** The HTTP gateway over three instances found through Consul (a real agent when one is set, else the double). */
describe('ocr gateway over a cluster', function () {
  this.timeout(240_000);
  const service = `ocr-gateway-${process.pid}`;
  let consul: TestConsul;
  let servers: ServerProcess[] = [];
  let gateway: GatewayProcess;

  before(async () => {
    consul = await consulForTests();
    servers = await Promise.all(
      [0, 1, 2].map(() => spawnServer(['--workers', '1', '--consul', consul.address, '--service-name', service])),
    );
    await waitFor(
      async () => (await healthService(consul.address, service, 'passing')).body.length === 3,
      20_000,
      'three passing instances',
    );
    gateway = await spawnGateway(['--target', `consul://${new URL(consul.address).host}/${service}`, '--body-memory-mb', '96']);
  });
  after(async () => {
    gateway?.child.kill('SIGKILL');
    for (const s of servers) s.child.kill('SIGKILL');
    await consul?.close();
  });

  it('spreads HTTP requests over every instance', async () => {
    const seen = new Set<string>();
    await waitFor(
      async () => {
        const answers = await Promise.all(Array.from({ length: 6 }, () => ocr(gateway.url)));
        for (const a of answers) {
          expect(a.status, a.text).to.equal(200);
          expect(a.text).to.contain('各区县人民政府');
          seen.add(a.instance);
        }
        return seen.size === 3;
      },
      60_000,
      'answers from all three instances',
    );
    expect([...seen].sort()).to.deep.equal(servers.map((s) => s.instanceId).sort());
    // Every body it held for the cluster was let go with its answer, under the bound it was given.
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).to.match(/^ocr_gateway_body_bytes_held 0$/m);
    expect(metrics).to.match(/^# HELP ocr_gateway_body_bytes_held .*past 96 MiB a new request is refused 429$/m);
  });

  it('closes the connections one address opens past --max-connections-per-client, and serves everyone else', async () => {
    const extra = 20;
    const port = Number(new URL(gateway.url).port);
    const attack = await silentConnections([port], '127.0.0.2', DEFAULT_CONNECTION_LIMITS.perClient + extra);
    try {
      await waitFor(() => attack.closed() === extra, 10_000, `${extra} connections closed`);
      const answer = await ocr(gateway.url);
      expect(answer.status, answer.text).to.equal(200);
    } finally {
      attack.sockets.forEach((s) => s.destroy());
    }
  });

  it('loses no HTTP request when an instance is killed (kill -9) under load', async () => {
    const failures: string[] = [];
    let calls = 0;
    let finished = false;
    const lanes = Array.from({ length: 6 }, async () => {
      while (!finished) {
        const a = await ocr(gateway.url).catch((err: unknown) => ({ status: 0, instance: '', text: String(err) }));
        if (a.status !== 200) failures.push(`${a.status} ${a.text}`);
        calls++;
      }
    });
    try {
      await waitFor(() => calls >= 12, 60_000, 'calls under way');
      const victim = servers[0]!;
      victim.child.kill('SIGKILL');
      await once(victim.child, 'exit');
      const after = calls;
      await waitFor(() => calls >= after + 30, 120_000, '30 more calls after the kill');
    } finally {
      finished = true;
      await Promise.all(lanes);
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });

  it('answers 503 with the reason when no instance is left, and /readyz turns 503 on SIGTERM', async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    await waitFor(async () => (await ocr(gateway.url)).status === 503, 60_000, 'a 503 once every instance is gone');
    const a = await ocr(gateway.url);
    expect(a.text).to.match(/UNAVAILABLE|no .*instance|connect/i);
    expect((await fetch(`${gateway.url}/healthz`)).status).to.equal(200);
    gateway.child.kill('SIGTERM');
    const [code] = (await once(gateway.child, 'exit')) as [number | null];
    expect(code).to.equal(0);
  });
});
