import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { expect } from 'chai';
import { OcrClient } from '../../src/client/index.js';
import { mapLimit } from '../../src/shared/map-limit.js';
import { consulForTests, healthService, itWithDouble, REAL_AGENT_CANNOT_STOP, type TestConsul } from '../support/consul.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';

/**
 * The cluster as callers see it: server processes registered in Consul (a real agent when
 * CONSUL_HTTP_ADDR is set, else the test double), clients on consul:// targets.
 */
describe('cluster through Consul', function () {
  this.timeout(240_000);
  const service = `ocr-cluster-${process.pid}`;
  let consul: TestConsul;
  let servers: ServerProcess[] = [];
  let target: string;
  const image = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));

  const start = (): Promise<ServerProcess> => spawnServer(['--workers', '1', '--consul', consul.address, '--service-name', service]);
  const passingIds = async (): Promise<string[]> =>
    (await healthService(consul.address, service, 'passing')).body.map((e) => e.Service.ID).sort();
  const live = (): ServerProcess[] => servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null);

  before(async () => {
    consul = await consulForTests();
    target = `consul://${new URL(consul.address).host}/${service}`;
    servers = await Promise.all([0, 1, 2].map(() => start()));
    await waitFor(async () => (await passingIds()).length === 3, 20_000, 'three passing instances');
  });
  after(async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    await consul?.close();
  });

  /**
   * Calls at concurrency 8 from before `during` starts until after it ends; resolves with the
   * failures, the instances seen, and how many calls ran.
   */
  async function underLoad(
    client: OcrClient,
    during: (done: () => number) => Promise<void>,
  ): Promise<{ failures: string[]; seen: Set<string>; calls: number }> {
    const failures: string[] = [];
    const seen = new Set<string>();
    let done = 0;
    let finished = false;
    const lanes = Array.from({ length: 8 }, async () => {
      while (!finished) {
        try {
          const r = await client.recognize(image);
          seen.add(r.instanceId);
        } catch (err) {
          failures.push((err as Error).message);
        }
        done++;
      }
    });
    try {
      await during(() => done);
    } finally {
      finished = true;
      await Promise.all(lanes);
    }
    return { failures, seen, calls: done };
  }

  it('round_robin spreads 300 calls 100 ± 15 over the three instances', async () => {
    const client = new OcrClient(target, { loadBalancing: 'round_robin' });
    await waitFor(
      async () => new Set(await mapLimit([...Array(12).keys()], 4, async () => (await client.getServerInfo()).instanceId)).size === 3,
      10_000,
      'all three instances reached',
    );
    const ids = await mapLimit([...Array(300).keys()], 4, async () => (await client.getServerInfo()).instanceId);
    client.close();
    const per = new Map<string, number>();
    for (const id of ids) per.set(id, (per.get(id) ?? 0) + 1);
    expect([...per.keys()].sort()).to.deep.equal(await passingIds());
    for (const n of per.values()) expect(n).to.be.within(85, 115);
  });

  it('pick_first keeps every call on one instance while it lives', async () => {
    const client = new OcrClient(target, { loadBalancing: 'pick_first' });
    const ids = await mapLimit([...Array(60).keys()], 4, async () => (await client.getServerInfo()).instanceId);
    client.close();
    expect(new Set(ids).size).to.equal(1);
  });

  it('a new instance receives calls within 2 s of its check passing, with no client restart', async () => {
    const client = new OcrClient(target, { loadBalancing: 'round_robin' });
    await client.getServerInfo();
    const joined = await start();
    servers.push(joined);
    await waitFor(async () => (await passingIds()).includes(joined.instanceId), 20_000, 'the new instance passing');
    const passingAt = Date.now();
    await waitFor(
      async () => (await client.getServerInfo()).instanceId === joined.instanceId,
      5_000,
      'a call served by the new instance',
      5,
    );
    const servedAfter = Date.now() - passingAt;
    client.close();
    expect(servedAfter).to.be.at.most(2_000);
  });

  itWithDouble(REAL_AGENT_CANNOT_STOP)('Consul down during load: no call fails; back up: discovery resumes', async () => {
    const client = new OcrClient(target, { loadBalancing: 'round_robin' });
    await client.getServerInfo();
    const { failures, calls } = await underLoad(client, async (done) => {
      await waitFor(() => done() >= 20, 60_000, 'load under way');
      await consul.stop!();
      const before = done();
      await waitFor(() => done() >= before + 80, 120_000, 'calls served while Consul is down');
      await consul.start!();
      await waitFor(() => done() >= before + 100, 60_000, 'calls served after Consul is back');
    });
    expect(calls).to.be.at.least(120);
    expect(failures, failures.slice(0, 3).join('\n')).to.deep.equal([]);
    // Discovery resumes: an instance started after the outage gets calls.
    const late = await start();
    servers.push(late);
    await waitFor(async () => (await passingIds()).includes(late.instanceId), 20_000, 'the late instance passing');
    await waitFor(async () => (await client.getServerInfo()).instanceId === late.instanceId, 10_000, 'a call on the late instance', 5);
    client.close();
  });

  it('rolling restart under load (SIGTERM each instance, start its replacement): no call fails', async () => {
    const client = new OcrClient(target, { loadBalancing: 'round_robin' });
    await client.getServerInfo();
    const { failures, seen, calls } = await underLoad(client, async (done) => {
      await waitFor(() => done() >= 20, 60_000, 'load under way');
      for (const old of live()) {
        const replacement = await start();
        servers.push(replacement);
        await waitFor(async () => (await passingIds()).includes(replacement.instanceId), 20_000, 'the replacement passing');
        const before = done();
        old.child.kill('SIGTERM');
        const [code] = (await once(old.child, 'exit')) as [number | null];
        expect(code, 'a drained instance exits 0').to.equal(0);
        await waitFor(() => done() >= before + 20, 60_000, 'calls served after the instance left');
      }
    });
    expect(calls).to.be.greaterThan(100);
    client.close();
    expect(failures, failures.slice(0, 3).join('\n')).to.deep.equal([]);
    expect(seen.size).to.be.greaterThan(3);
  });
});
