/**
 * `ocr gateway` under the large uploads of issue 15's attacks, held to an instance's memory bound:
 * one real instance behind one real gateway, the gateway's resident memory read from /proc.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { residentBytes, watchPeak } from '../../src/dev/resident-memory.js';
import { spawnGateway, spawnServer, type GatewayProcess, type ServerProcess } from '../../src/dev/server-process.js';

const GB = 1e9;
const line = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));

describe('ocr gateway under large uploads', function () {
  this.timeout(300_000);
  let server: ServerProcess;
  let gateway: GatewayProcess;
  let baseline: number;

  const post = (body: string | Buffer, contentType: string): Promise<Response> =>
    fetch(`${gateway.url}/api/ocr`, { method: 'POST', headers: { 'content-type': contentType }, body });

  before(async () => {
    server = await spawnServer();
    gateway = await spawnGateway(['--target', `127.0.0.1:${server.port}`]);
    expect((await post(line, 'image/png')).status).to.equal(200);
    baseline = residentBytes(gateway.child.pid!);
  });

  after(() => {
    gateway?.child.kill('SIGKILL');
    server?.child.kill('SIGKILL');
  });

  it('200 JSON bodies of a 22 MB image at once: each answered or refused 429 with Retry-After, memory under its level + 1.5 GB', async () => {
    // A line image padded to 22 MB: 29 MB of base64, which the gateway parses and decodes itself.
    const body = JSON.stringify({ image: Buffer.concat([line, Buffer.alloc(22_000_000)]).toString('base64') });
    const memory = watchPeak(gateway.child.pid!);
    const answers = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const r = await post(body, 'application/json');
        await r.arrayBuffer();
        return { status: r.status, retryAfter: r.headers.get('retry-after') };
      }),
    );
    const peak = memory.stop();
    const statuses = answers.map((a) => a.status);
    for (const a of answers) expect([200, 429], JSON.stringify(statuses)).to.include(a.status);
    for (const a of answers.filter((a) => a.status === 429)) expect(a.retryAfter).to.match(/^\d+$/);
    expect(statuses, 'answered').to.include(200);
    expect(peak - baseline, 'resident memory above the level before, bytes').to.be.below(1.5 * GB);
    expect((await post(line, 'image/png')).status, 'the next good request').to.equal(200);
  });
});
