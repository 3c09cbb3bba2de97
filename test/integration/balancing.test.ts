import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { expect } from 'chai';
import { OcrClient } from '../../src/client/index.js';
import { mapLimit } from '../../src/shared/map-limit.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';

/** grpc-js's own policies over three real server processes, addressed as one ipv4: target. */
describe('client-side balancing over three server processes', function () {
  this.timeout(180_000);
  let servers: ServerProcess[] = [];
  let target: string;
  before(async () => {
    servers = await Promise.all([0, 1, 2].map(() => spawnServer(['--workers', '1'])));
    target = `ipv4:${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;
  });
  after(() => servers.forEach((s) => s.child.kill('SIGKILL')));

  const count = (ids: string[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
    return m;
  };

  it('round_robin spreads 300 calls 100 ± 15 per instance', async () => {
    const client = new OcrClient(target, { loadBalancing: 'round_robin' });
    await client.getServerInfo({ deadlineMs: 30_000 });
    const ids = await mapLimit([...Array(300).keys()], 4, async () => (await client.getServerInfo()).instanceId);
    client.close();
    const per = count(ids);
    expect([...per.keys()].sort()).to.deep.equal(servers.map((s) => s.instanceId).sort());
    for (const n of per.values()) expect(n).to.be.within(85, 115);
  });

  it('pick_first sends every call to one instance', async () => {
    const client = new OcrClient(target, { loadBalancing: 'pick_first' });
    const ids = await mapLimit([...Array(60).keys()], 4, async () => (await client.getServerInfo()).instanceId);
    client.close();
    expect(count(ids).size).to.equal(1);
  });

  it('kill -9 of the instance in use during 200 calls at concurrency 8: no call fails', async () => {
    const image = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));
    const client = new OcrClient(target, { loadBalancing: 'pick_first' });
    const first = (await client.getServerInfo()).instanceId;
    const victim = servers.find((s) => s.instanceId === first)!;
    const failures: string[] = [];
    const seen = new Set<string>();
    let done = 0;
    const exited = once(victim.child, 'exit');
    await mapLimit([...Array(200).keys()], 8, async () => {
      try {
        const r = await client.recognize(image);
        seen.add(r.instanceId);
        expect(r.lines.map((l) => l.text).join('')).to.contain('人民政府');
      } catch (err) {
        failures.push((err as Error).message);
      }
      // Kill it a quarter of the way in, with calls in flight on it.
      if (++done === 50) victim.child.kill('SIGKILL');
    });
    await exited;
    client.close();
    expect(failures, failures.slice(0, 3).join('\n')).to.deep.equal([]);
    expect(seen.size).to.be.greaterThan(1);
    servers = servers.filter((s) => s !== victim);
  });
});
