import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { OcrCallError, OcrClient, type LoadBalancing } from '../../src/client/index.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { runCli, spawnGateway, spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { mapLimit } from '../../src/shared/map-limit.js';

const IMAGE = path.join(EVAL_DEV, 'lines', 'l0000.png');
/** A name no resolver knows (RFC 2606): looked up and failed, every time. */
const NOWHERE = 'ocr-nowhere.invalid';

/** A target that lists its servers by name and address ("ocr-1:50051,ocr-2:50051", as containers name them). */
describe('a target listing servers by name and address', function () {
  this.timeout(180_000);
  let servers: ServerProcess[] = [];
  /** The three instances by `localhost` and `127.0.0.1`, and a name that does not resolve among them. */
  let target: string;
  before(async () => {
    servers = await Promise.all([0, 1, 2].map(() => spawnServer(['--workers', '1'])));
    const [a, b, c] = servers.map((s) => s.port);
    target = `localhost:${a},${NOWHERE}:${b},127.0.0.1:${b},localhost:${c}`;
  });
  after(() => servers.forEach((s) => s.child.kill('SIGKILL')));

  const ids = (): string[] => servers.map((s) => s.instanceId).sort();

  /** One call at a time until every instance has answered one: all connected. */
  async function connected(client: OcrClient): Promise<void> {
    const seen = new Set<string>();
    for (let i = 0; i < 50 && seen.size < servers.length; i++) seen.add((await client.getServerInfo()).instanceId);
    expect([...seen].sort()).to.deep.equal(ids());
  }

  for (const loadBalancing of ['least_request', 'round_robin'] as LoadBalancing[]) {
    it(`${loadBalancing} spreads calls over every instance of every name, past the name that does not resolve`, async () => {
      const client = new OcrClient(target, { loadBalancing });
      try {
        await connected(client);
        const answered = await mapLimit([...Array(60).keys()], 3, async () => (await client.getServerInfo()).instanceId);
        const per = new Map<string, number>();
        for (const id of answered) per.set(id, (per.get(id) ?? 0) + 1);
        expect([...per.keys()].sort()).to.deep.equal(ids());
        for (const n of per.values()) expect(n).to.be.within(10, 30);
      } finally {
        client.close();
      }
    });
  }

  it('fails a call when no name resolves, naming each and what to check', async () => {
    const client = new OcrClient(`${NOWHERE}:50051,ocr-nowhere-2.invalid:50051`);
    try {
      const err = await client.getServerInfo().catch((e: unknown) => e);
      expect(err).to.be.instanceOf(OcrCallError);
      expect((err as OcrCallError).code).to.equal('UNAVAILABLE');
      expect((err as OcrCallError).details).to.match(
        /^no server of the target could be reached \(no name of the target resolved to an address: ocr-nowhere\.invalid \(\w+\), ocr-nowhere-2\.invalid \(\w+\)\): check that the names are spelled right and that this machine resolves them \(getent hosts NAME/,
      );
    } finally {
      client.close();
    }
  });

  it('serves ocr recognize, ocr info and ocr health', async () => {
    const recognized = await runCli(['recognize', '--target', target, IMAGE]);
    expect(recognized.code, recognized.stderr).to.equal(0);
    expect(recognized.stdout).to.contain('人民政府');
    const info = await runCli(['info', '--target', target]);
    expect(info.code, info.stderr).to.equal(0);
    expect(ids()).to.include((JSON.parse(info.stdout) as { instanceId: string }).instanceId);
    const health = await runCli(['health', '--target', target]);
    expect(health.code, health.stderr).to.equal(0);
    expect(health.stdout).to.equal(`${target} ocr.v1.OcrService: SERVING\n`);
  });

  it('ocr gateway spreads HTTP requests over every instance', async () => {
    const gateway = await spawnGateway(['--target', target]);
    try {
      const image = readFileSync(IMAGE);
      const seen = new Set<string>();
      for (let i = 0; i < 12 && seen.size < servers.length; i++) {
        const body = new FormData();
        body.append('image', new Blob([image]), 'line.png');
        const res = await fetch(`${gateway.url}/api/ocr`, { method: 'POST', body });
        const json = (await res.json()) as { instance_id: string; msg: string };
        expect(res.status, json.msg).to.equal(200);
        seen.add(json.instance_id);
      }
      expect([...seen].sort()).to.deep.equal(ids());
    } finally {
      gateway.child.kill('SIGKILL');
    }
  });
});
