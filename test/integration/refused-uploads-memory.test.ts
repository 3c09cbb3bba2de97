import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { atRest } from '../../src/dev/at-rest.js';
import { residentBytes, watchPeak } from '../../src/dev/resident-memory.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';

describe('memory after a burst of uploads refused before any call ran', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  before(async () => {
    server = await spawnServer(['--workers', '1']);
  });
  after(() => {
    server?.child.kill('SIGKILL');
  });

  it('goes back to the system once the server is idle, as after calls that ran', async () => {
    const pid = server.child.pid!;
    const before = residentBytes(pid);
    // 29 MB of JSON each, whose 22 MB of bytes are no image: refused 415 once parsed, before any call.
    const body = JSON.stringify({ image: randomBytes(22 * 1024 * 1024).toString('base64') });
    const memory = watchPeak(pid);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`http://127.0.0.1:${server.httpPort!}/api/ocr`, { method: 'POST', body, headers: { 'content-type': 'application/json' } }),
      ),
    );
    const peak = memory.stop();
    expect(answers.map((a) => a.status)).to.deep.equal(Array.from({ length: 20 }, () => 415));
    // Only a call that ended said the server was idle: after refusals alone, nothing was given back.
    await atRest(server.httpPort!);
    let above = NaN;
    await waitFor(() => (above = residentBytes(pid) - before) < 400e6, 30_000, 'resident memory back within 400 MB', 500).catch(
      (err: Error) => {
        throw new Error(
          `${err.message}: ${(above / 1e6).toFixed(0)} MB above the level before, at the peak ${((peak - before) / 1e6).toFixed(0)}`,
        );
      },
    );
  });
});
