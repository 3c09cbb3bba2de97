import { expect } from 'chai';
import { OcrClient } from '../../src/client/index.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { textImage } from '../support/images.js';

/**
 * An instance that stops answering and never closes its connections (a frozen process, a paused VM,
 * a partition): its connection stays open, so only the client's keepalive pings can find it dead.
 */
describe('an instance frozen with SIGSTOP under a steady stream of calls', function () {
  this.timeout(120_000);
  let servers: ServerProcess[] = [];
  before(async () => {
    servers = await Promise.all([0, 1].map(() => spawnServer(['--workers', '1'])));
  });
  after(() => {
    // A stopped child must never outlive the test: wake it, then end it.
    for (const s of servers) {
      s.child.kill('SIGCONT');
      s.child.kill('SIGKILL');
    }
  });

  it('fails no call: the calls it holds end once a ping goes unanswered, and every call goes on to the other instance', async () => {
    const [victim, survivor] = servers as [ServerProcess, ServerProcess];
    const target = `ipv4:127.0.0.1:${victim.port},127.0.0.1:${survivor.port}`;
    // Small keepalive values keep the test short (the defaults find a frozen instance within 10 s);
    // 2 s for an ACK, so that the healthy instance on a busy test machine is never taken for frozen.
    const client = new OcrClient(target, { deadlineMs: 15_000, keepaliveTimeMs: 500, keepaliveTimeoutMs: 2000 });
    const line = await textImage('Frozen 42');
    const failures: string[] = [];
    /** Who answered each call, by when it started: before or after the freeze. */
    const answered = { before: new Map<string, number>(), after: new Map<string, number>() };
    let frozen = false;
    let pendingFromBefore = 0;
    let stop = false;
    const count = (m: Map<string, number>, id: string): void => void m.set(id, (m.get(id) ?? 0) + 1);
    const loop = async (): Promise<void> => {
      while (!stop) {
        const startedFrozen = frozen;
        if (!startedFrozen) pendingFromBefore++;
        try {
          const r = await client.recognizeLines([line]);
          expect(r.results[0]!.text).to.include('42');
          count(startedFrozen ? answered.after : answered.before, r.instanceId);
        } catch (err) {
          failures.push((err as Error).message);
        } finally {
          if (!startedFrozen) pendingFromBefore--;
        }
      }
    };
    const loops = [0, 1, 2, 3].map(() => loop());
    try {
      // Both instances take calls (least_request spreads them), so the victim holds some when it stops.
      await waitFor(() => answered.before.size === 2, 60_000, 'answers from both instances');
      victim.child.kill('SIGSTOP');
      frozen = true;
      // The calls open on the victim end only when their connection is found dead; then more are answered.
      await waitFor(
        () => pendingFromBefore === 0 && (answered.after.get(survivor.instanceId) ?? 0) >= 20,
        60_000,
        'the calls held by the frozen instance to end, and 20 calls made since to be answered',
      );
    } finally {
      stop = true;
      await Promise.all(loops);
      client.close();
    }
    expect(failures, failures.slice(0, 3).join('\n')).to.deep.equal([]);
    // A frozen process answers nothing: every call made after the freeze was answered by the other.
    expect([...answered.after.keys()]).to.deep.equal([survivor.instanceId]);
  });
});
