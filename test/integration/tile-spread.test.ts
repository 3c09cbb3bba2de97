import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { expect } from 'chai';
import { OcrClient, recognizeLargeImageSpread } from '../../src/client/index.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { docsF1 } from '../../src/dev/eval-score.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { cutLinesPage, wholeCutLines } from '../support/images.js';
import { startTestServer } from '../support/server.js';

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

describe('a large image spread: the lines tile borders cut', function () {
  this.timeout(120_000);

  it("are re-read in calls of at most the server's lines a request (more at once were refused, the whole image lost)", async () => {
    // 30 cut lines on a server that takes 8 lines a RecognizeLines call: "30 images in one call".
    const t = await startTestServer({ limits: { maxLinesPerRequest: 8 } });
    try {
      const r = await recognizeLargeImageSpread(t.client, await cutLinesPage(30), { tileSize: 900, streams: 2 });
      const numbers = wholeCutLines(r.lines.map((l) => l.text));
      expect(new Set(numbers).size, r.lines.map((l) => l.text).join('\n')).to.equal(numbers.length);
      expect(numbers.length, r.lines.map((l) => l.text).join('\n')).to.be.at.least(28);
    } finally {
      await t.stop();
    }
  });
});
