import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { expect } from 'chai';
import { OcrClient, recognizeLargeImageSpread } from '../../src/client/index.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { docsF1 } from '../../src/dev/eval-score.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';

/** One large image's tiles over several instances, and resumed when the instance reading them dies. */
describe('large images spread over instances', function () {
  this.timeout(300_000);
  let servers: ServerProcess[] = [];
  let target: string;
  const page = 'd007_form.jpg';
  const bytes = readFileSync(path.join(EVAL_DEV, 'docs', page));
  before(async () => {
    servers = await Promise.all([0, 1, 2].map(() => spawnServer(['--workers', '1'])));
    target = `ipv4:${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;
  });
  after(() => servers.forEach((s) => s.child.kill('SIGKILL')));

  it('spreads one page over several instances and reads it as well as one Recognize call', async () => {
    const client = new OcrClient(target, { loadBalancing: 'round_robin', deadlineMs: 120_000 });
    const whole = (await client.recognize(bytes)).lines.map((l) => l.text);
    const spread = await recognizeLargeImageSpread(client, bytes, { tileSize: 1024, streams: 3 });
    client.close();
    expect(spread.instances.length).to.be.at.least(2);
    expect(spread.failedStreams).to.equal(0);
    const a = docsF1({ docs: { [page]: whole } }, EVAL_DEV, [page]);
    const b = docsF1({ docs: { [page]: spread.lines.map((l) => l.text) } }, EVAL_DEV, [page]);
    expect(Math.abs(a - b), `whole ${a}, spread ${b}`).to.be.at.most(0.005);
  });

  it('the instance reading the tiles is killed mid-image: the result is complete and equal to an undisturbed run', async () => {
    const undisturbedClient = new OcrClient(target, { loadBalancing: 'pick_first', deadlineMs: 120_000 });
    const undisturbed = await recognizeLargeImageSpread(undisturbedClient, bytes, { tileSize: 1024, streams: 1 });
    undisturbedClient.close();

    const client = new OcrClient(target, { loadBalancing: 'pick_first', deadlineMs: 120_000 });
    const serving = (await client.getServerInfo()).instanceId;
    const victim = servers.find((s) => s.instanceId === serving)!;
    let killed = false;
    const exited = once(victim.child, 'exit');
    const disturbed = await recognizeLargeImageSpread(client, bytes, {
      tileSize: 1024,
      streams: 1,
      onTile: () => {
        if (!killed) {
          killed = true;
          victim.child.kill('SIGKILL');
        }
      },
    });
    await exited;
    client.close();
    servers = servers.filter((s) => s !== victim);
    expect(killed).to.equal(true);
    expect(disturbed.failedStreams).to.be.at.least(1);
    expect(disturbed.instances).to.include(serving);
    expect(disturbed.instances.length).to.be.at.least(2);
    expect(disturbed.lines.map((l) => l.text)).to.deep.equal(undisturbed.lines.map((l) => l.text));
    expect(disturbed.lines.map((l) => l.box)).to.deep.equal(undisturbed.lines.map((l) => l.box));
  });
});
