import { expect } from 'chai';
import { OcrError } from '../../src/shared/errors.js';
import { WorkerPool, type TaskResult } from '../../src/engine/runtime/worker-pool.js';
import type { ModelSource } from '../../src/engine/runtime/model-cache.js';
import type { LinesReply, ReadLinesTask, WorkerConfig } from '../../src/engine/runtime/worker-protocol.js';

const unused: ModelSource = {
  file: '',
  spec: { simplify: false, precision: 'float32', greedyHead: false, reduceRange: false },
  cached: null,
};
const STUB = new URL('../support/stub-inference-worker.js', import.meta.url);
const config: Omit<WorkerConfig, 'wide' | 'phase'> = {
  manifestPath: '',
  threads: 1,
  detectorThreads: 1,
  recBatchSize: 1,
  // The stand-in worker loads no model.
  models: { det: unused, cls: null, rec: unused },
  detArenaPixels: 0,
};

/**
 * A task the stand-in worker spends `busyMs` on; `crash`: its worker exits after it; `native`: it
 * spends them marked as inside a native model call, which cannot be terminated.
 */
const task = (busyMs: number, crash = false, native = false): ReadLinesTask => ({
  kind: 'readLines',
  image: { buffer: new SharedArrayBuffer(1), width: busyMs, height: crash ? 0 : 1, channels: native ? 1 : 3 },
  quads: [],
  useAngleCls: false,
  wholeLines: false,
});

const span = (r: TaskResult<LinesReply>): { began: number; ended: number } =>
  JSON.parse(r.reply.lines[0]!.text) as { began: number; ended: number };

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
    const first = pool.run(task(40), { priority: 0 });
    const second = pool.run(task(1), { priority: 0 });
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

  it('starts an exclusive task only once no other task runs or waits', async () => {
    pool = await WorkerPool.start(2, config, { depth: 2, workerUrl: STUB });
    const busy = [pool.run(task(60), { priority: 0 }), pool.run(task(30), { priority: 0 })];
    const measure = pool.run(task(1), { priority: Number.MAX_SAFE_INTEGER, exclusive: true });
    const later = pool.run(task(40), { priority: 1 });
    const [a, b, c] = await Promise.all([...busy, later]);
    const alone = span(await measure);
    // The second worker was free after 30 ms, but the exclusive task waited for all three.
    expect(alone.began).to.be.at.least(Math.max(span(a!).ended, span(b!).ended, span(c!).ended));
  });

  it('fails only the running task of a worker that crashes, and runs the tasks posted behind it', async () => {
    pool = await WorkerPool.start(1, config, { depth: 2, workerUrl: STUB });
    const lost: string[] = [];
    pool.onWorkerLost = ({ reason, workers }) => lost.push(`${reason} ${workers}`);
    const crashing = pool.run(task(20, true), { priority: 0 });
    const behind = pool.run(task(1), { priority: 1 });
    const failure = await crashing.then(
      () => expect.fail('the crashed task resolved'),
      (err: unknown) => err,
    );
    expect(failure).to.be.instanceOf(OcrError).with.property('code', 'INTERNAL');
    expect((failure as Error).message).to.match(/crashed/);
    expect((await behind).reply.lines).to.have.length(1);
    // Counted (ocr_workers_crashed_total) and reported for the log, not only in the call's error.
    expect(pool.crashedWorkers).to.equal(1);
    expect(lost).to.deep.equal(['crash 0']);
  });

  it('on close, fails the tasks still queued or with a worker, instead of leaving them unanswered', async () => {
    pool = await WorkerPool.start(1, config, { depth: 2, workerUrl: STUB });
    const outcomes = [task(300), task(1), task(1)].map((t) =>
      pool!.run(t, { priority: 0 }).then(
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
    const runs = [
      pool.run(task(20), { priority: 0 }),
      pool.run(task(1), { priority: 5 }),
      pool.run(task(1), { priority: 5 }),
      pool.run(task(1), { priority: 2 }),
    ].map((p, i) => p.then(() => order.push(i)));
    await Promise.all(runs);
    expect(order).to.deep.equal([0, 3, 1, 2]);
  });

  const outcome = (p: Promise<unknown>): Promise<string> =>
    p.then(
      () => 'OK',
      (err: unknown) => (err as OcrError).code,
    );

  it('stops a task running past its deadline plus the margin, and runs the tasks queued behind it on a fresh worker', async () => {
    pool = await WorkerPool.start(1, config, { depth: 2, workerUrl: STUB, overrunMs: 100 });
    const lost: string[] = [];
    pool.onWorkerLost = ({ reason }) => lost.push(reason);
    const started = Date.now();
    const runaway = outcome(pool.run(task(20_000), { priority: 0, deadline: Date.now() + 200 }));
    const behind = pool.run(task(1), { priority: 1 });
    expect(await runaway).to.equal('DEADLINE_EXCEEDED');
    expect(Date.now() - started).to.be.below(2000);
    expect((await behind).reply.lines).to.have.length(1);
    expect(pool.stoppedWorkers).to.equal(1);
    expect(lost).to.deep.equal(['overrun']);
  });

  it('finishes a garbage collection asked of a worker that is then stopped for overrunning its task', async () => {
    pool = await WorkerPool.start(1, config, { depth: 2, workerUrl: STUB, overrunMs: 100 });
    const runaway = outcome(pool.run(task(20_000), { priority: 0, deadline: Date.now() + 200 }));
    // Posted behind the runaway task, which the worker never finishes: without the stop's answer, this waits for good.
    await pool.collectGarbage();
    expect(await runaway).to.equal('DEADLINE_EXCEEDED');
    expect(pool.stoppedWorkers).to.equal(1);
  });

  it('stops a task whose call was cancelled once the margin has passed', async () => {
    pool = await WorkerPool.start(1, config, { depth: 1, workerUrl: STUB, overrunMs: 100 });
    const controller = new AbortController();
    const runaway = outcome(pool.run(task(20_000), { priority: 0, signal: controller.signal }));
    setTimeout(() => controller.abort(), 100);
    expect(await runaway).to.equal('CANCELLED');
    expect((await pool.run(task(1), { priority: 0 })).reply.lines).to.have.length(1);
  });

  it('stops a task past the cap when its call has no deadline', async () => {
    pool = await WorkerPool.start(1, config, { depth: 1, workerUrl: STUB, taskCapMs: 300 });
    expect(await outcome(pool.run(task(20_000), { priority: 0 }))).to.equal('RESOURCE_EXHAUSTED');
    expect((await pool.run(task(1), { priority: 0 })).reply.lines).to.have.length(1);
  });

  it('retires a worker inside a native call instead of terminating it, and answers from a fresh one meanwhile', async () => {
    pool = await WorkerPool.start(1, config, { depth: 1, workerUrl: STUB, overrunMs: 50 });
    const runaway = outcome(pool.run(task(1500, false, true), { priority: 0, deadline: Date.now() + 100 }));
    expect(await runaway).to.equal('DEADLINE_EXCEEDED');
    // The retired worker is still busy in its "native" call; the replacement answers.
    const next = await pool.run(task(1), { priority: 0 });
    expect(span(next).began).to.be.below(performance.timeOrigin + performance.now());
    expect(pool.loaded).to.equal(1);
  });

  it('on close, counts a worker inside a native call as stuck rather than terminating it', async () => {
    pool = await WorkerPool.start(1, config, { depth: 1, workerUrl: STUB });
    const running = outcome(pool.run(task(800, false, true), { priority: 0 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await pool.close()).to.deep.equal({ stuck: 1 });
    pool = undefined;
    expect(await running).to.equal('UNAVAILABLE');
  });

  it('serves once its first worker has loaded; the others take tasks as each is ready', async () => {
    pool = await WorkerPool.start(3, { ...config, manifestPath: 'slow:300' }, { depth: 1, workerUrl: STUB });
    expect(pool.size).to.equal(3);
    expect(pool.loaded).to.equal(1);
    const first = await pool.run(task(1), { priority: 0 });
    expect(span(first).ended).to.be.below(performance.timeOrigin + performance.now());
    await pool.allLoaded;
    expect(pool.loaded).to.equal(3);
    // Three tasks at once now run side by side, one per worker.
    const spans = (await Promise.all([0, 1, 2].map(() => pool!.run(task(200), { priority: 0 })))).map(span);
    expect(Math.max(...spans.map((s) => s.began))).to.be.below(Math.min(...spans.map((s) => s.ended)));
  });

  it('counts the workers running a task now (ocr_workers_busy), none once every task is answered', async () => {
    pool = await WorkerPool.start(2, config, { depth: 1, workerUrl: STUB });
    await pool.allLoaded;
    expect(pool.busy).to.equal(0);
    const one = pool.run(task(200), { priority: 0 });
    expect(pool.busy).to.equal(1);
    const two = pool.run(task(200), { priority: 0 });
    const three = pool.run(task(200), { priority: 0 });
    // Two workers: the third task waits for one of them.
    expect({ busy: pool.busy, queued: pool.queued }).to.deep.equal({ busy: 2, queued: 1 });
    await Promise.all([one, two, three]);
    expect(pool.busy).to.equal(0);
  });

  it('on close, counts a worker still loading as stuck, and stops it once it has loaded', async () => {
    pool = await WorkerPool.start(2, { ...config, manifestPath: 'slow:300' }, { depth: 1, workerUrl: STUB });
    const closing = pool;
    pool = undefined;
    expect(await closing.close()).to.deep.equal({ stuck: 1 });
    await closing.allLoaded;
    expect(closing.loaded).to.equal(0);
  });
});
