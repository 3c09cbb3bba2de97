import { expect } from 'chai';
import { OcrError } from '../../src/shared/errors.js';
import { WorkerPool, type TaskResult } from '../../src/engine/worker-pool.js';
import type { RecognizeReply, RecognizeTask, WorkerConfig } from '../../src/engine/worker-protocol.js';

const STUB = new URL('../support/stub-inference-worker.js', import.meta.url);
const config: Omit<WorkerConfig, 'wide'> = {
  manifestPath: '',
  threads: 1,
  detectorThreads: 1,
  recBatchSize: 1,
  simplifyGraphs: false,
  recPrecision: 'float32',
  detArenaPixels: 0,
};

/** A task the stand-in worker spends `busyMs` on; `crash`: its worker exits after it. */
const task = (busyMs: number, crash = false): RecognizeTask => ({
  kind: 'recognize',
  image: { buffer: new SharedArrayBuffer(1), width: busyMs, height: crash ? 0 : 1, channels: 3 },
  quads: [],
  useAngleCls: false,
  wholeLines: false,
});

const span = (r: TaskResult<RecognizeReply>): { began: number; ended: number } => JSON.parse(r.reply.lines[0]!.text) as { began: number; ended: number };

/** Keep the main thread from its event loop, as a long synchronous step in a request would. */
function holdMainThread(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Busy on purpose.
  }
}

describe('worker pool (stand-in workers)', () => {
  let pool: WorkerPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  async function gapBetweenTwoTasks(depth: number): Promise<number> {
    pool = await WorkerPool.start(1, config, { depth, workerUrl: STUB });
    const first = pool.run(task(40), 0);
    const second = pool.run(task(1), 0);
    holdMainThread(200);
    const [a, b] = await Promise.all([first, second]);
    return span(b).began - span(a).ended;
  }

  it('with depth 2, posts the next task while the worker runs one: it starts with the main thread busy', async () => {
    expect(await gapBetweenTwoTasks(2)).to.be.within(0, 30);
  });

  it('with depth 1, the next task waits for the main thread to hand it over', async () => {
    expect(await gapBetweenTwoTasks(1)).to.be.above(100);
  });

  it('fails only the running task of a worker that crashes, and runs the tasks posted behind it', async () => {
    pool = await WorkerPool.start(1, config, { depth: 2, workerUrl: STUB });
    const crashing = pool.run(task(20, true), 0);
    const behind = pool.run(task(1), 1);
    const failure = await crashing.then(
      () => expect.fail('the crashed task resolved'),
      (err: unknown) => err,
    );
    expect(failure).to.be.instanceOf(OcrError).with.property('code', 'INTERNAL');
    expect((failure as Error).message).to.match(/crashed/);
    expect((await behind).reply.lines).to.have.length(1);
  });

  it('on close, fails the tasks still queued or with a worker, instead of leaving them unanswered', async () => {
    pool = await WorkerPool.start(1, config, { depth: 2, workerUrl: STUB });
    const outcomes = [task(300), task(1), task(1)].map((t) =>
      pool!.run(t, 0).then(
        () => 'done',
        (err: unknown) => (err as OcrError).code,
      ),
    );
    await pool.close();
    pool = undefined;
    expect(await Promise.all(outcomes)).to.deep.equal(['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
  });

  it('queues by priority: an older request overtakes tasks of a newer one not yet posted', async () => {
    pool = await WorkerPool.start(1, config, { depth: 1, workerUrl: STUB });
    const order: number[] = [];
    const runs = [pool.run(task(20), 0), pool.run(task(1), 5), pool.run(task(1), 5), pool.run(task(1), 2)].map((p, i) =>
      p.then(() => order.push(i)),
    );
    await Promise.all(runs);
    expect(order).to.deep.equal([0, 3, 1, 2]);
  });
});
