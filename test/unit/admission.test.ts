import { expect } from 'chai';
import { Admission, type CallCost, type CallTicket } from '../../src/engine/admission/admission.js';
import { defaultMemoryBudget, defaultWorkerCount, MemoryBudget } from '../../src/engine/admission/memory-budget.js';
import { OcrError } from '../../src/shared/errors.js';

const MB = 1024 * 1024;
const page = (mpx: number, bytes = MB, encodedBytes = 0): CallCost => ({ bytes, encodedBytes, kind: 'page', units: mpx, what: 'a page' });

/** A call that stays admitted until `finish` is called, having spent `spentMs` of worker time. */
function hold(admission: Admission, cost: CallCost, options: Parameters<Admission['run']>[1] = {}, spentMs = 0) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const result = admission.run(cost, options, async (ticket) => {
    await done;
    ticket.spent(spentMs);
    return ticket.order;
  });
  return { result, finish };
}

async function refusal(p: Promise<unknown>): Promise<OcrError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(OcrError);
    return err as OcrError;
  }
  return expect.fail('expected a refusal');
}

describe('memory budget', () => {
  it('grants in order of priority, then arrival, and refuses at once what exceeds the whole budget', async () => {
    const budget = new MemoryBudget(10);
    const first = await budget.reserve(8);
    const order: string[] = [];
    const late = budget.reserve(5, { priority: 5 }).then((r) => (order.push('late'), r));
    const urgent = budget.reserve(5, { priority: 1 }).then((r) => (order.push('urgent'), r));
    expect(budget.waiting).to.equal(2);
    first.release();
    const u = await urgent;
    const l = await late;
    expect(order).to.deep.equal(['urgent', 'late']);
    expect(budget.usedBytes).to.equal(10);
    u.release();
    l.release();
    l.release();
    expect(budget.usedBytes).to.equal(0);
    const err = await refusal(budget.reserve(11, { what: 'this image' }));
    expect(err.code).to.equal('RESOURCE_EXHAUSTED');
    expect(err.message).to.match(/this image needs about .* more than this server's whole budget/);
  });

  it('drops a waiter whose signal fires, and serves the next', async () => {
    const budget = new MemoryBudget(10);
    const held = await budget.reserve(10);
    const controller = new AbortController();
    const cancelled = budget.reserve(4, { signal: controller.signal });
    const next = budget.reserve(4);
    controller.abort();
    expect((await refusal(cancelled)).code).to.equal('CANCELLED');
    held.release();
    expect((await next).bytes).to.equal(4);
  });

  it('defaults to 256 MiB a worker, at least 512 MiB and at most 1 GiB, within an eighth of memory', () => {
    const GiB = 1024 * MB;
    expect(defaultMemoryBudget(24 * GiB, 1)).to.equal(512 * MB);
    expect(defaultMemoryBudget(24 * GiB, 2)).to.equal(512 * MB);
    expect(defaultMemoryBudget(24 * GiB, 3)).to.equal(768 * MB);
    expect(defaultMemoryBudget(24 * GiB, 16)).to.equal(GiB);
    expect(defaultMemoryBudget(2 * GiB, 2)).to.equal(256 * MB);
    expect(defaultMemoryBudget(6 * GiB, 16)).to.equal(768 * MB);
  });

  it('defaults to a worker a core, but no more than memory holds at 768 MiB each, and at least one', () => {
    const GiB = 1024 * MB;
    expect(defaultWorkerCount(2, 24 * GiB)).to.equal(2);
    expect(defaultWorkerCount(16, 128 * GiB)).to.equal(16);
    // Kubernetes' limits.memory alone on a large host: one worker a host core would overrun it.
    expect(defaultWorkerCount(64, 2 * GiB)).to.equal(2);
    expect(defaultWorkerCount(8, 4 * GiB)).to.equal(5);
    expect(defaultWorkerCount(4, 512 * MB)).to.equal(1);
  });
});

describe('admission', () => {
  const config = { workers: 2, maxWaitMs: 30_000, deadlineShare: 0.8 };

  it('refuses at once, with a retry hint, a call whose estimated wait and work do not fit its deadline', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    // Initial estimate: 1500 ms per detector megapixel; 8 calls of 1 Mpx on 2 workers = 6 s of wait.
    const held = Array.from({ length: 8 }, () => hold(admission, page(1)));
    expect(admission.estimatedWaitMs('interactive')).to.equal(6000);
    const started = Date.now();
    const err = await refusal(admission.run(page(1), { deadline: Date.now() + 5000 }, async () => 'ran'));
    expect(Date.now() - started).to.be.below(50);
    expect(err.code).to.equal('RESOURCE_EXHAUSTED');
    // 3.5 s over its room; a retry keeping this deadline fits after 3.5 / (1 - 0.8) = 17.5 s, past it.
    expect(err.retryAfterMs).to.be.within(17_400, 17_600);
    expect(err.message).to.match(
      /server busy.*no retry within its deadline would: send it again in 35\d\d ms with as long a deadline, or on another instance/,
    );
    // With room in its deadline, the same call is admitted.
    const fits = hold(admission, page(1), { deadline: Date.now() + 20_000 });
    for (const h of [...held, fits]) h.finish();
    await Promise.all([...held, fits].map((h) => h.result));
    expect(admission.inFlight).to.equal(0);
  });

  /** 6 s of work ahead on 2 workers (four calls of 2 Mpx held), and a way to count some of it done. */
  async function sixSecondsAhead(admission: Admission) {
    const tickets: CallTicket[] = [];
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const held = Array.from({ length: 4 }, () => admission.run(page(2), {}, (t) => (tickets.push(t), done)));
    await new Promise((resolve) => setImmediate(resolve));
    return {
      /** `ms` of the wait ahead drained, on both workers. */
      drain: (ms: number) => tickets.forEach((t) => t.spent((ms * 2) / tickets.length)),
      release: async () => {
        finish();
        await Promise.all(held);
      },
    };
  }

  it('hints the wait after which a retry of the refused call, keeping its deadline, is admitted', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    const ahead = await sixSecondsAhead(admission);
    const deadline = Date.now() + 8000;
    // 6 + 1.5 s against 80 % of 8 s: 1.1 s over.
    const err = await refusal(admission.run(page(1), { deadline }, async () => 0));
    const hint = err.retryAfterMs!;
    expect(hint).to.be.within(5400, 5600);
    // Just past the hint: the work ahead drained by as much, the deadline as it was.
    ahead.drain(hint + 20);
    expect(await admission.run(page(1), { deadline: deadline - hint }, async () => 'read')).to.equal('read');
    await ahead.release();
  });

  it('hints when a new call with as long a deadline is admitted, sooner than a retry of the refused one', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    const ahead = await sixSecondsAhead(admission);
    // 1.1 s over, as above: a retry keeps its deadline and fits after 5.5 s; a new call with a
    // deadline of 8 s again fits once 1.1 s of the work ahead has drained.
    const err = await refusal(admission.run(page(1), { deadline: Date.now() + 8000 }, async () => 0));
    expect(err.retryAfterMs).to.be.within(5400, 5600);
    expect(err.newCallAfterMs).to.be.within(1050, 1150);
    expect(err.message).to.match(/retry in 5\d{3} ms \(a new call with as long a deadline: in 1\d{3} ms\) or on another instance/);
    ahead.drain(err.newCallAfterMs! + 20);
    expect(await admission.run(page(1), { deadline: Date.now() + 8000 }, async () => 'read')).to.equal('read');
    await ahead.release();
  });

  it('answers DEADLINE_EXCEEDED at once for a call whose own work cannot fit its deadline on an idle server', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    const err = await refusal(admission.run(page(20), { deadline: Date.now() + 1000 }, async () => 'ran'));
    expect(err.code).to.equal('DEADLINE_EXCEEDED');
    expect(err.message).to.match(/allow a longer deadline or send a smaller image/);
  });

  it('answers DEADLINE_EXCEEDED at once on a busy server too for a call that could not fit its deadline even alone: no retry would', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    const ahead = hold(admission, page(1));
    // 20 × 1500 ms of work, alone 0.15 of it serial and the rest over two workers: 17 s, for a deadline of 1 s.
    const err = await refusal(admission.run(page(20), { deadline: Date.now() + 1000 }, async () => 'ran'));
    expect(err.code).to.equal('DEADLINE_EXCEEDED');
    expect(err.retryAfterMs).to.equal(undefined);
    expect(err.message).to.match(/allow a longer deadline or send a smaller image/);
    // One that would fit alone is refused for load, with when to retry.
    const busy = await refusal(admission.run(page(1), { deadline: Date.now() + 1600 }, async () => 'ran'));
    expect(busy.code).to.equal('RESOURCE_EXHAUSTED');
    expect(busy.retryAfterMs).to.be.above(0);
    ahead.finish();
    await ahead.result;
  });

  it('counts only interactive work ahead of an interactive call, and puts it ahead of batch calls', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    const batch = Array.from({ length: 10 }, () => hold(admission, page(1), { priority: 'batch' }));
    expect(admission.estimatedWaitMs('batch')).to.equal(7500);
    expect(admission.estimatedWaitMs('interactive')).to.equal(0);
    const interactive = hold(admission, page(1), { deadline: Date.now() + 3000 });
    await refusal(admission.run(page(1), { priority: 'batch', deadline: Date.now() + 3000 }, async () => 0));
    expect(admission.refused).to.deep.equal({ interactive: 0, batch: 1 });
    for (const h of [...batch, interactive]) h.finish();
    const orders = await Promise.all([...batch, interactive].map((h) => h.result));
    expect(orders.at(-1)).to.be.below(orders[0]!);
  });

  it("stretches a batch call's estimate by the share of the workers interactive calls took lately: they will overtake it", async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    // Interactive calls that just spent 15 s of worker time between them, as their estimates said:
    // three quarters of two workers over the last 10 s, so a batch call gets a quarter of them.
    for (let i = 0; i < 10; i++) await admission.run(page(1), {}, async (ticket) => ticket.spent(1500));
    expect(admission.interactiveShare()).to.be.closeTo(0.75, 0.01);
    const batch = [0, 1].map(() => hold(admission, page(1), { priority: 'batch' }));
    // 3 s of batch work ahead on 2 workers, four times as long.
    expect(admission.estimatedWaitMs('batch')).to.be.closeTo(6000, 60);
    // Its own 1.5 s too: (1.5 + 1.5) × 4 = 12 s does not fit 80 % of 10 s; unstretched (3 s) it would.
    const err = await refusal(admission.run(page(1), { priority: 'batch', deadline: Date.now() + 10_000 }, async () => 0));
    expect(err.code).to.equal('RESOURCE_EXHAUSTED');
    expect(err.retryAfterMs).to.be.within(19_900, 20_100);
    // An interactive call is not slowed by them.
    expect(await admission.run(page(1), { deadline: Date.now() + 10_000 }, async () => 'read')).to.equal('read');
    for (const h of batch) h.finish();
    await Promise.all(batch.map((h) => h.result));
  });

  it('refuses calls without a deadline past maxWaitMs, and learns the cost of work from what calls spent', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), { ...config, maxWaitMs: 1000 });
    const held = Array.from({ length: 2 }, () => hold(admission, page(1), {}, 300));
    const err = await refusal(admission.run(page(1), {}, async () => 0));
    expect(err.code).to.equal('RESOURCE_EXHAUSTED');
    // With a deadline far longer than that wait, the wait is the bound, and the refusal names it, not the deadline.
    const long = await refusal(admission.run(page(1), { deadline: Date.now() + 60_000 }, async () => 0));
    for (const refused of [err, long]) {
      expect(refused.message).to.match(/would not fit in this server's longest wait of 1000 ms \(its --max-wait-ms\)/);
    }
    for (const h of held) h.finish();
    await Promise.all(held.map((h) => h.result));
    expect(admission.workEstimate('page', 1)).to.be.below(1500).and.above(1000);
  });

  it("takes this machine's speed for its starting estimates, keeping what calls have taught it", async () => {
    // On a machine whose recognizer reads the calibration line in 100 ms: 50 such lines a detector
    // megapixel, 0.65 a line image.
    const fresh = new Admission(new MemoryBudget(100 * MB), config);
    fresh.calibrate(100);
    expect(fresh.workEstimate('page', 1)).to.be.closeTo(5000, 1e-9);
    expect(fresh.workEstimate('line', 1)).to.be.closeTo(65, 1e-9);
    // One page spent 3000 ms before the calibration came: as if the estimate had started at 5000.
    const taught = new Admission(new MemoryBudget(100 * MB), config);
    await taught.run(page(1), {}, async (ticket) => ticket.spent(3000));
    taught.calibrate(100);
    expect(taught.workEstimate('page', 1)).to.be.closeTo(5000 + 0.1 * (3000 - 5000), 1e-9);
    // A recognizer in int8 reads the line faster than the rest of a page's work speeds up: 80 lines a megapixel, 0.7 a line image.
    const vnni = new Admission(new MemoryBudget(100 * MB), config);
    vnni.calibrate(15, 'int8');
    expect(vnni.workEstimate('page', 1)).to.be.closeTo(1200, 1e-9);
    expect(vnni.workEstimate('line', 1)).to.be.closeTo(10.5, 1e-9);
    for (const unmeasured of [0, Number.NaN, Infinity]) {
      const kept = new Admission(new MemoryBudget(100 * MB), config);
      kept.calibrate(unmeasured);
      expect(kept.workEstimate('page', 1)).to.equal(1500);
    }
  });

  it('weighs a page on an idle server by its serial part and the rest spread over the workers', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    // 1500 ms of work; alone on two workers, 0.15 of it serial: 862 ms, within 80 % of 1200 ms.
    const alone = hold(admission, page(1), { deadline: Date.now() + 1200 });
    // The same call beside it has the whole of its work and half of the first's ahead.
    const beside = await refusal(admission.run(page(1), { deadline: Date.now() + 1200 }, async () => 0));
    expect(beside.code).to.equal('RESOURCE_EXHAUSTED');
    alone.finish();
    await alone.result;
    // Alone again, but too large for its deadline even spread: refused as such.
    const tooLarge = await refusal(admission.run(page(2), { deadline: Date.now() + 1200 }, async () => 0));
    expect(tooLarge.code).to.equal('DEADLINE_EXCEEDED');
  });

  it('makes a call that does not fit the memory wait, holding nothing, until memory is released', async () => {
    const admission = new Admission(new MemoryBudget(10 * MB), config);
    const big = hold(admission, page(0.1, 8 * MB));
    let ran = false;
    const waiting = admission.run(page(0.1, 8 * MB), {}, async () => (ran = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).to.equal(false);
    big.finish();
    await waiting;
    expect(ran).to.equal(true);
  });

  it('lets batch calls hold at most half of the memory budget: an interactive call finds the rest at once', async () => {
    const admission = new Admission(new MemoryBudget(10 * MB), config);
    const batch = { priority: 'batch' } as const;
    const first = hold(admission, page(0.1, 4 * MB), batch);
    let secondRan = false;
    const second = admission.run(page(0.1, 4 * MB), batch, async () => (secondRan = true));
    let interactiveRan = false;
    const interactive = admission.run(page(0.1, 5 * MB), {}, async () => (interactiveRan = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect({ interactiveRan, secondRan }).to.deep.equal({ interactiveRan: true, secondRan: false });
    first.finish();
    await Promise.all([first.result, second, interactive]);
    expect(secondRan).to.equal(true);
  });

  it('refuses a call larger than the whole budget for that, whatever its deadline: a longer one would not help', async () => {
    const admission = new Admission(new MemoryBudget(10 * MB), config);
    const err = await refusal(admission.run(page(20, 11 * MB), { deadline: Date.now() + 1000 }, async () => 0));
    expect(err.code).to.equal('RESOURCE_EXHAUSTED');
    expect(err.message).to.match(/whole budget/);
  });

  it('lets a batch call larger than the batch share run alone in it, and refuses one larger than the whole budget', async () => {
    const admission = new Admission(new MemoryBudget(10 * MB), config);
    const batch = { priority: 'batch' } as const;
    expect(await admission.run(page(0.1, 8 * MB), batch, async () => 'read')).to.equal('read');
    const err = await refusal(admission.run(page(0.1, 11 * MB), batch, async () => 0));
    expect(err.code).to.equal('RESOURCE_EXHAUSTED');
    expect(err.message).to.match(/whole budget/);
  });

  it('refuses a call that would wait for memory once the waiting calls hold a quarter of the budget in encoded bytes', async () => {
    const admission = new Admission(new MemoryBudget(16 * MB), config);
    const running = hold(admission, page(0.1, 16 * MB));
    const waiting = hold(admission, page(0.1, 5 * MB, 3 * MB));
    const err = await refusal(admission.run(page(0.1, 5 * MB, 2 * MB), {}, async () => 0));
    expect(err.code).to.equal('RESOURCE_EXHAUSTED');
    expect(err.message).to.match(/waiting for memory already hold 3 MiB/);
    expect(err.retryAfterMs).to.be.above(0);
    running.finish();
    waiting.finish();
    await Promise.all([running.result, waiting.result]);
  });

  it('refuses before the request only for load: never DEADLINE_EXCEEDED, whatever came before', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    // A huge call admitted and done does not make the next one look huge.
    await admission.run(page(20), {}, async () => 0);
    expect(admission.refusalBeforeRequest('interactive', Date.now() + 2000, 'page')).to.equal(null);
    const held = Array.from({ length: 4 }, () => hold(admission, page(1)));
    expect(admission.refusalBeforeRequest('interactive', Date.now() + 2000, 'page')?.code).to.equal('RESOURCE_EXHAUSTED');
    for (const h of held) h.finish();
    await Promise.all(held.map((h) => h.result));
  });

  it('refuses before the request when the wait ahead leaves no room for a typical call of its kind', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    // Eight 1-Mpx pages make a typical page 1500 ms of work (the starting estimate, spent 0 is not learned).
    for (let i = 0; i < 8; i++) await admission.run(page(1), {}, async () => 0);
    expect(admission.typicalMs('page')).to.equal(1500);
    // Idle, a deadline too short for a typical page: only the request can tell, so it comes in.
    expect(admission.refusalBeforeRequest('interactive', Date.now() + 1500, 'page')).to.equal(null);
    const held = Array.from({ length: 2 }, () => hold(admission, page(1)));
    // 1500 ms ahead leaves room in 3 s (80 %: 2400 ms) for a tiny call, not for a typical one.
    const refused = admission.refusalBeforeRequest('interactive', Date.now() + 3000, 'page');
    expect(refused?.code).to.equal('RESOURCE_EXHAUSTED');
    // 600 ms over its room: a retry with this deadline would fit after 600 / 0.2 ms, all it has left.
    expect(refused?.retryAfterMs).to.be.within(2900, 3100);
    // Line calls have no typical cost yet: for them the wait alone decides.
    expect(admission.refusalBeforeRequest('interactive', Date.now() + 3000, 'line')).to.equal(null);
    for (const h of held) h.finish();
    await Promise.all(held.map((h) => h.result));
  });

  it('counts the calls promised from their headers ahead of a call arriving, not of one weighed again at its upload turn', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    for (let i = 0; i < 8; i++) await admission.run(page(1), {}, async () => 0);
    const deadline = (): number => Date.now() + 3000;
    // Two typical pages let in, their requests not read yet: 1500 ms ahead on two workers.
    const promised = [admission.promise('interactive', 'page'), admission.promise('interactive', 'page')];
    const arriving = admission.refusalBeforeRequest('interactive', deadline(), 'page', { arriving: true });
    expect(arriving?.code).to.equal('RESOURCE_EXHAUSTED');
    expect(arriving?.retryAfterMs).to.be.within(2900, 3100);
    // Weighed again later, it may be ahead of them: only the admitted calls count.
    expect(admission.refusalBeforeRequest('interactive', deadline(), 'page')).to.equal(null);
    // What they promised is not admitted work, and the gauge of the wait shows only that.
    expect(admission.estimatedWaitMs('interactive')).to.equal(0);
    // Released (read, or ended), twice for one of them: nothing is left ahead.
    promised[0]!();
    promised[0]!();
    promised[1]!();
    expect(admission.refusalBeforeRequest('interactive', deadline(), 'page', { arriving: true })).to.equal(null);
    // Batch calls promised are ahead of a batch call arriving, never of an interactive one.
    const batch = [admission.promise('batch', 'page'), admission.promise('batch', 'page')];
    expect(admission.refusalBeforeRequest('interactive', deadline(), 'page', { arriving: true })).to.equal(null);
    expect(admission.refusalBeforeRequest('batch', deadline(), 'page', { arriving: true })?.code).to.equal('RESOURCE_EXHAUSTED');
    batch.forEach((release) => release());
  });

  it('says no call needs 0 ms of work: a tiny call past its deadline, a busy server weighing a call by its headers alone', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), config);
    const tiny = await refusal(admission.run(page(0.0001), { deadline: Date.now() }, async () => 0));
    expect(tiny.message).to.match(/needs about 1 ms of work/);
    for (let i = 0; i < 8; i++) await admission.run(page(1), {}, async () => 0);
    const held = Array.from({ length: 4 }, () => hold(admission, page(1)));
    // A deadline too short for a typical page: the work ahead alone refuses it, and the message says only that.
    const busy = admission.refusalBeforeRequest('interactive', Date.now() + 1000, 'page');
    expect(busy?.message).to.match(/^server busy: about 3000 ms of interactive work ahead would not fit in its deadline's/);
    for (const h of held) h.finish();
    await Promise.all(held.map((h) => h.result));
  });

  it('stops counting a promise whose request has not been read within two seconds', async () => {
    let now = 0;
    const admission = new Admission(new MemoryBudget(100 * MB), { ...config, clock: () => now });
    for (let i = 0; i < 8; i++) await admission.run(page(1), {}, async () => 0);
    const deadline = (): number => Date.now() + 3000;
    const stalled = [admission.promise('interactive', 'page'), admission.promise('interactive', 'page')];
    now += 1999;
    expect(admission.refusalBeforeRequest('interactive', deadline(), 'page', { arriving: true })?.code).to.equal('RESOURCE_EXHAUSTED');
    // A third, promised later, outlives them.
    const later = admission.promise('interactive', 'page');
    now += 1;
    expect(admission.refusalBeforeRequest('interactive', deadline(), 'page', { arriving: true })).to.equal(null);
    // Read at last, they take nothing away from what the later one still counts.
    stalled.forEach((release) => release());
    now += 1000;
    const beside = [admission.promise('interactive', 'page')];
    expect(admission.refusalBeforeRequest('interactive', deadline(), 'page', { arriving: true })?.code).to.equal('RESOURCE_EXHAUSTED');
    later();
    beside.forEach((release) => release());
    expect(admission.refusalBeforeRequest('interactive', deadline(), 'page', { arriving: true })).to.equal(null);
  });
});
