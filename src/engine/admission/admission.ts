/**
 * Admission by cost. Every call states what it will hold in memory (bytes, from its headers and
 * options) and how much worker time it will take (estimated from the calls answered before it). A
 * call whose estimated wait plus its own work does not fit in what is left of its deadline is
 * refused at once, with a hint of when to retry, rather than answered late; one that fits waits for
 * its memory (holding only its encoded bytes) and then runs. Interactive calls go ahead of batch
 * calls, in the memory queue and in the workers' queue, so batch load never delays them.
 */
import { loadRefusal, OcrError } from '../../shared/errors.js';
import type { Precision } from '../types.js';
import { MemoryBudget, type Reservation } from './memory-budget.js';

export type CallPriority = 'interactive' | 'batch';

/** What one call may cost: memory held while it runs, and work in worker-milliseconds. */
export interface CallCost {
  bytes: number;
  /** The call's encoded bytes, which it holds while it waits for memory (with a PNG's text-free copy: SharpInput.heldBytes). */
  encodedBytes: number;
  /** The estimator's kind and units (workEstimate). */
  kind: WorkKind;
  units: number;
  /** What the bytes are for, in a refusal. */
  what: string;
  /** What to do when they are more than the whole budget; a page's advice (memory-budget.ts) unless set. */
  advice?: string;
}

/** Pages cost by detector megapixels (the detector and, roughly in proportion, the lines it finds); line images by count. */
export type WorkKind = 'page' | 'line';

export interface AdmitOptions {
  priority?: CallPriority;
  /** Date.now() milliseconds. */
  deadline?: number;
  signal?: AbortSignal;
}

/** One admitted call, as its pipeline sees it. */
export interface CallTicket {
  /** Order for the workers' queue: lower first. */
  readonly order: number;
  readonly signal: AbortSignal | undefined;
  readonly deadline: number | undefined;
  /** Count worker time spent on the call (learned for later estimates). */
  spent(ms: number): void;
}

export interface AdmissionConfig {
  workers: number;
  /** Calls without a deadline are refused when their estimated wait is longer than this. */
  maxWaitMs: number;
  /** The part of a call's remaining deadline that the estimate may fill: estimates err. */
  deadlineShare: number;
  /** Monotonic milliseconds for the load's decay and the promises' span; performance.now by default. */
  clock?: () => number;
}

/**
 * Starting estimates, until calls have been measured and until the machine's speed is (calibrate):
 * on the slow side, since an estimate too low admits calls that then miss their deadline, while one
 * too high only refuses early until the first answers correct it.
 */
const INITIAL_MS_PER_UNIT: Record<WorkKind, number> = { page: 1500, line: 15 };
/**
 * A unit's work in times the recognizer's on the calibration line (calibrate), by the precision the
 * recognizer runs in: what the development documents (detector megapixels) and line images cost a
 * worker with every worker busy, over that line's time, on a machine of each kind (docs/BENCHMARKS.md,
 * "Starting estimates"), on the slow side. In float32 the recognizer is most of a page's work, so its
 * speed says how this machine's pages compare; in int8 (VNNI) it reads a line several times faster
 * while decoding, the detector and the classifier do not speed up, and a page is 75 such lines a
 * megapixel rather than 45-49: with float32's 50, a fresh instance with VNNI admitted a burst a third
 * larger than it could answer in time.
 */
const CALIBRATION_LINES_PER_UNIT: Record<Precision, Record<WorkKind, number>> = {
  float32: { page: 50, line: 0.65 },
  int8: { page: 80, line: 0.7 },
};
/**
 * The part of a call's work that one worker does while the others wait: a page's decode and
 * detector (an eighth of a development invoice's work); the lines it finds are read by every worker
 * at once. Line images are counted whole: a call may hold only one. On an idle server a call takes
 * that part plus the rest spread over the workers (ownSpanMs); weighed as its whole work, an invoice
 * that ends in 1.6 s alone on two workers was refused as too slow for a 3.3 s deadline. Behind other
 * calls it is still weighed whole: that margin kept calls from ending late under overload
 * (docs/BENCHMARKS.md, "Starting estimates").
 */
const SERIAL_SHARE: Record<WorkKind, number> = { page: 0.15, line: 1 };
/**
 * How long a call let in from its headers counts ahead of later arrivals while its request is not
 * read (promise). A storm's requests are read well within it, even under overload on loopback; one
 * whose body has not come by then (a stalled upload, a slow link) is weighed on its own cost once
 * read, like any other. Counted until read, a few dozen requests that sent their headers and
 * stalled made an idle server refuse every other caller for the minute its header timeout allowed.
 */
const PROMISE_SPAN_MS = 2000;
/** Weight of the newest observation in the running estimate. */
const LEARNING_RATE = 0.1;
/** How many of the latest calls' estimates say what a typical call of a kind costs. */
const RECENT_CALLS = 32;
/** Fewer than this, and no call is typical yet: one huge call must not make the next look huge. */
const TYPICAL_AFTER = 8;
/** Batch calls come after every interactive one: their order numbers start here. */
const BATCH_ORDER = 2 ** 40;
/** Calls waiting for memory hold at most 1/this of the budget in encoded bytes (waitHoldingFiles). */
const WAITING_ENCODED_SHARE = 4;
/**
 * Batch calls hold at most this part of the memory budget between them, so that interactive calls
 * always find the rest. Without it, admitted batch calls waiting for the workers held the whole
 * budget, and interactive calls beside 40 batch callers waited for memory (24 of 55 in one run, 0.8 s
 * on average, up to 2.3 s; docs/BENCHMARKS.md, "Tried and kept").
 */
const BATCH_MEMORY_SHARE = 0.5;
/**
 * Over about how long the interactive calls' worker time is averaged (interactiveShare): a deadline's
 * span, the time over which a batch call admitted now can be overtaken.
 */
const INTERACTIVE_LOAD_TAU_MS = 10_000;
/** Interactive calls are taken to leave batch calls at least a tenth of the workers: a batch estimate is stretched at most tenfold. */
const MAX_INTERACTIVE_SHARE = 0.9;

interface Admitted {
  batch: boolean;
  estimateMs: number;
  spentMs: number;
}

/** A call let in from its headers, its request not read yet. */
interface Promised {
  priority: CallPriority;
  ms: number;
  /** Clock milliseconds after which it no longer counts. */
  until: number;
}

export class Admission {
  private readonly msPerUnit: Record<WorkKind, number> = { ...INITIAL_MS_PER_UNIT };
  /** Calls learned from, by kind: the starting estimate's weight in msPerUnit is what they left of it. */
  private readonly learned: Record<WorkKind, number> = { page: 0, line: 0 };
  private readonly calls = new Set<Admitted>();
  /** The latest calls' own work estimates, by kind, oldest first. */
  private readonly recentMs: Record<WorkKind, number[]> = { page: [], line: [] };
  /** Their median, kept as they arrive: every call's headers read it. */
  private readonly typical: Record<WorkKind, number> = { page: 0, line: 0 };
  private arrivals = 0;
  /** Calls refused for load, by priority. */
  readonly refused: Record<CallPriority, number> = { interactive: 0, batch: 0 };
  /** Called each time the last call in flight is done. */
  onIdle: (() => void) | undefined;
  /** Encoded bytes of the calls waiting for memory. */
  private waitingEncodedBytes = 0;
  /** Typical work of the calls let in from their headers whose request is not read yet (promise), by priority. */
  private readonly promisedMs: Record<CallPriority, number> = { interactive: 0, batch: 0 };
  /** Those calls, in the order they came, which is the order their span ends. */
  private readonly promises = new Set<Promised>();
  private readonly now: () => number;
  /** The part of the budget batch calls may hold, reserved from before the budget itself. */
  private readonly batchShare: MemoryBudget;
  /** Worker time of the interactive calls done, decayed with INTERACTIVE_LOAD_TAU_MS, as of interactiveWorkAt. */
  private interactiveWorkMs = 0;
  private interactiveWorkAt: number;

  constructor(
    private readonly budget: MemoryBudget,
    private readonly config: AdmissionConfig,
  ) {
    this.now = config.clock ?? (() => performance.now());
    this.interactiveWorkAt = this.now();
    this.batchShare = new MemoryBudget(Math.floor(budget.limitBytes * BATCH_MEMORY_SHARE));
  }

  get inFlight(): number {
    return this.calls.size;
  }

  workEstimate(kind: WorkKind, units: number): number {
    return this.msPerUnit[kind] * units;
  }

  /**
   * Worker-milliseconds ahead of a new call of this priority, spread over the workers: the admitted
   * calls'. A batch call's is stretched by the interactive calls that will overtake it (batchStretch).
   */
  estimatedWaitMs(priority: CallPriority): number {
    let ahead = 0;
    for (const c of this.calls) if (priority === 'batch' || !c.batch) ahead += Math.max(0, c.estimateMs - c.spentMs);
    return this.spread(ahead, priority);
  }

  /** As estimatedWaitMs, with the calls promised (let in from their headers, not read yet) too. */
  private waitOnArrivalMs(priority: CallPriority): number {
    this.endSpentPromises();
    const promised = this.promisedMs.interactive + (priority === 'batch' ? this.promisedMs.batch : 0);
    return this.estimatedWaitMs(priority) + this.spread(promised, priority);
  }

  /** Work of `ms` worker-milliseconds as time for a call of this priority to wait through. */
  private spread(ms: number, priority: CallPriority): number {
    return (ms / this.config.workers) * (priority === 'batch' ? this.batchStretch() : 1);
  }

  /**
   * The share of the workers that interactive calls have taken lately (their worker time over the
   * last INTERACTIVE_LOAD_TAU_MS or so), at most MAX_INTERACTIVE_SHARE.
   */
  interactiveShare(): number {
    return Math.min(MAX_INTERACTIVE_SHARE, this.interactiveWorkAsOf(this.now()) / (INTERACTIVE_LOAD_TAU_MS * this.config.workers));
  }

  /** The interactive calls' worker time, decayed to `now`. */
  private interactiveWorkAsOf(now: number): number {
    return this.interactiveWorkMs * Math.exp(-(now - this.interactiveWorkAt) / INTERACTIVE_LOAD_TAU_MS);
  }

  /**
   * How much longer than its work and the work ahead a batch call takes: interactive calls arriving
   * after it overtake it, and at a share s of the workers leave it 1 - s of them. Without it, a
   * batch call admitted beside steady interactive load was estimated as if the workers were its own,
   * and ended DEADLINE_EXCEEDED after its whole deadline instead of being refused with a hint
   * (docs/BENCHMARKS.md, "Tried and kept").
   */
  private batchStretch(): number {
    return 1 / (1 - this.interactiveShare());
  }

  private noteInteractiveWork(ms: number): void {
    const now = this.now();
    this.interactiveWorkMs = this.interactiveWorkAsOf(now) + ms;
    this.interactiveWorkAt = now;
  }

  /**
   * Run `work` once the call is admitted and its memory reserved; refuse it at once if it cannot be
   * answered within its deadline (or maxWaitMs without one), or if its memory exceeds the whole budget.
   */
  async run<T>(cost: CallCost, options: AdmitOptions, work: (ticket: CallTicket) => Promise<T>): Promise<T> {
    const priority = options.priority ?? 'interactive';
    // A call larger than the whole budget can never run here, whatever its deadline: that refusal,
    // which tells the caller not to retry, comes before any weighing of time.
    this.budget.checkFits(cost.bytes, cost.what, cost.advice);
    const ownMs = this.workEstimate(cost.kind, cost.units);
    this.remember(cost.kind, ownMs);
    const refusal = this.refusal(
      priority,
      this.ownSpanMs(cost.kind, ownMs),
      options.deadline,
      undefined,
      this.aloneSpanMs(cost.kind, ownMs),
    );
    if (refusal) throw refusal;
    const batch = priority === 'batch';
    const call: Admitted = { batch, estimateMs: ownMs, spentMs: 0 };
    const order = (batch ? BATCH_ORDER : 0) + this.arrivals++;
    this.calls.add(call);
    let reservation: Reservation | undefined;
    try {
      reservation = await this.reserveMemory(cost, order, priority, options.signal);
      const ticket: CallTicket = {
        order,
        signal: options.signal,
        deadline: options.deadline,
        spent: (ms) => (call.spentMs += ms),
      };
      const result = await work(ticket);
      this.learn(cost, call.spentMs);
      return result;
    } finally {
      reservation?.release();
      if (!batch) this.noteInteractiveWork(call.spentMs);
      this.calls.delete(call);
      if (this.calls.size === 0) this.onIdle?.();
    }
  }

  /**
   * A ticket for worker work that no call's admission covers, whose memory its caller holds (a
   * tile's decode: its stream holds the tile): queued in arrival order among the calls of its
   * priority, its time counted to none of them.
   */
  unadmittedTicket(priority: CallPriority, signal: AbortSignal | undefined): CallTicket {
    const order = (priority === 'batch' ? BATCH_ORDER : 0) + this.arrivals++;
    return { order, signal, deadline: undefined, spent: () => undefined };
  }

  /**
   * The call's memory, at once where it fits, else waited for. A batch call's also counts against
   * the batch share, reserved first, so that a batch call waiting for it holds nothing of the
   * budget; one larger than the share takes all of it.
   */
  private async reserveMemory(
    cost: CallCost,
    order: number,
    priority: CallPriority,
    signal: AbortSignal | undefined,
  ): Promise<Reservation> {
    const fromBudget = async (): Promise<Reservation> =>
      this.budget.tryReserve(cost.bytes, order, cost.what) ??
      (await this.waitHoldingFiles(cost.encodedBytes, priority, () =>
        this.budget.reserve(cost.bytes, { priority: order, signal, what: cost.what }),
      ));
    if (priority !== 'batch') return fromBudget();
    const shareBytes = Math.min(cost.bytes, this.batchShare.limitBytes);
    const share =
      this.batchShare.tryReserve(shareBytes, order) ??
      (await this.waitHoldingFiles(cost.encodedBytes, priority, () => this.batchShare.reserve(shareBytes, { priority: order, signal })));
    try {
      const own = await fromBudget();
      return {
        bytes: own.bytes,
        release: () => {
          own.release();
          share.release();
        },
      };
    } catch (err) {
      share.release();
      throw err;
    }
  }

  /**
   * Wait for memory, holding `encodedBytes` of image files meanwhile (a call's, or a tile's, which its
   * stream waits with): those waiting may hold at most a quarter of the budget in encoded bytes,
   * past which a call is refused for load rather than queued. With half, the burst of a hundred 30 MB
   * calls went past the 1.5 GB above the level before that issue 15 allows the default budget
   * (docs/BENCHMARKS.md, "Bursts of large uploads").
   */
  async waitHoldingFiles(encodedBytes: number, priority: CallPriority, wait: () => Promise<Reservation>): Promise<Reservation> {
    const cap = this.budget.limitBytes / WAITING_ENCODED_SHARE;
    if (this.waitingEncodedBytes + encodedBytes > cap) {
      this.refused[priority]++;
      const retryAfterMs = Math.max(10, Math.ceil(this.estimatedWaitMs(priority)));
      throw loadRefusal(
        `server busy: the calls waiting for memory already hold ${Math.round(this.waitingEncodedBytes / 1048576)} MiB of images; ` +
          `retry in ${retryAfterMs} ms or on another instance`,
        retryAfterMs,
      );
    }
    this.waitingEncodedBytes += encodedBytes;
    try {
      return await wait();
    } finally {
      this.waitingEncodedBytes -= encodedBytes;
    }
  }

  /**
   * The refusal a call gets before its request is even read, when the wait ahead leaves no room in
   * its deadline for a typical call of its kind (the median of the latest ones): its image is then
   * not worth receiving. Otherwise the wait ahead settles just under the deadline, where the calls
   * the handler refuses once read would all pass this test, each having cost its upload. Null when
   * it may come in (and be refused with its own cost once read, which only the request tells), and
   * always when a typical call would not fit even with nothing ahead: the load is then not the reason.
   * The wait ahead of a call `arriving` includes the calls promised, which all came before it;
   * weighed again later (at its upload turn), later arrivals may be among them, and only the
   * admitted calls count.
   */
  refusalBeforeRequest(
    priority: CallPriority,
    deadline: number | undefined,
    kind: WorkKind,
    { arriving = false }: { arriving?: boolean } = {},
  ): OcrError | null {
    const left = deadline === undefined ? Infinity : deadline - Date.now();
    const typicalMs = this.ownSpanMs(kind, this.typicalMs(kind));
    const waitMs = arriving ? this.waitOnArrivalMs(priority) : this.estimatedWaitMs(priority);
    return this.refusal(priority, typicalMs > left * this.config.deadlineShare ? 0 : typicalMs, deadline, waitMs);
  }

  /**
   * Count a call let in from its headers as a typical call of its kind ahead of the calls that come
   * after it, until the function returned is called (its request read, or the call ended; a second
   * call does nothing) or PROMISE_SPAN_MS has passed. Until its request is read a call is not
   * admitted, and without this the calls arriving meanwhile (a hundred at once as a storm starts)
   * would all be weighed against the queue as it was before any of them.
   */
  promise(priority: CallPriority, kind: WorkKind): () => void {
    this.endSpentPromises();
    const promised: Promised = { priority, ms: this.typicalMs(kind), until: this.now() + PROMISE_SPAN_MS };
    this.promises.add(promised);
    this.promisedMs[priority] += promised.ms;
    return () => this.unpromise(promised);
  }

  private unpromise(promised: Promised): void {
    if (!this.promises.delete(promised)) return;
    this.promisedMs[promised.priority] -= promised.ms;
    // Sums of fractions taken away in another order leave a residue, and ownSpanMs asks for none.
    if (this.promises.size === 0) this.promisedMs.interactive = this.promisedMs.batch = 0;
  }

  /** Stop counting the promises whose span has ended. */
  private endSpentPromises(): void {
    const now = this.now();
    for (const promised of this.promises) {
      if (promised.until > now) break;
      this.unpromise(promised);
    }
  }

  /**
   * How long a call of `ownMs` of work takes once it starts: on an idle server, its serial part and
   * the rest spread over the workers; otherwise, as the others keep the workers busy, its whole work.
   */
  private ownSpanMs(kind: WorkKind, ownMs: number): number {
    this.endSpentPromises();
    const idle = this.calls.size === 0 && this.promisedMs.interactive === 0 && this.promisedMs.batch === 0;
    return idle ? this.aloneSpanMs(kind, ownMs) : ownMs;
  }

  /** How long a call of `ownMs` of work takes alone on the server: the least it could ever take here. */
  private aloneSpanMs(kind: WorkKind, ownMs: number): number {
    const serial = SERIAL_SHARE[kind];
    return ownMs * (serial + (1 - serial) / this.config.workers);
  }

  /** The median own work of the latest calls of a kind; 0 until there are enough of them. */
  typicalMs(kind: WorkKind): number {
    return this.typical[kind];
  }

  private remember(kind: WorkKind, ownMs: number): void {
    const recent = this.recentMs[kind];
    recent.push(ownMs);
    if (recent.length > RECENT_CALLS) recent.shift();
    if (recent.length < TYPICAL_AFTER) return;
    const sorted = [...recent].sort((a, b) => a - b);
    this.typical[kind] = sorted[Math.floor(sorted.length / 2)]!;
  }

  /**
   * Why a call of `ownMs` with `waitMs` of work ahead cannot be admitted now, or null when it can.
   * `aloneMs`, where known, is the call's span alone on the server: past its deadline's room, no
   * retry could ever fit it, and a refusal for load would only send it round again.
   */
  private refusal(
    priority: CallPriority,
    ownMs: number,
    deadline: number | undefined,
    waitMs = this.estimatedWaitMs(priority),
    aloneMs = 0,
  ): OcrError | null {
    const left = deadline === undefined ? Infinity : deadline - Date.now();
    const room = Math.min(left * this.config.deadlineShare, this.config.maxWaitMs + ownMs);
    const overMs = waitMs + ownMs * (priority === 'batch' ? this.batchStretch() : 1) - room;
    if (overMs <= 0) return null;
    this.refused[priority]++;
    // The hint is for a retry of this call (grpc's retry pushback), which keeps its deadline: where the
    // deadline bounds its room, each millisecond waited drains a millisecond of the wait ahead but
    // takes deadlineShare of one from the room, so it fits after the overshoot / (1 - deadlineShare).
    // Retried after the overshoot alone, it was refused again, having waited for nothing.
    const bounded = left * this.config.deadlineShare < this.config.maxWaitMs + ownMs;
    const retryAfterMs = Math.max(10, Math.ceil(overMs / (bounded ? 1 - this.config.deadlineShare : 1)));
    // A new call sent with as long a deadline has its whole room again: it fits after the overshoot.
    const newCallAfterMs = Math.max(10, Math.ceil(overMs));
    if ((ownMs > left * this.config.deadlineShare && waitMs === 0) || aloneMs > left * this.config.deadlineShare) {
      return new OcrError(
        'DEADLINE_EXCEEDED',
        `this call needs about ${Math.max(1, Math.round(ownMs))} ms of work and its deadline leaves ${Math.max(0, Math.round(left))} ms; ` +
          'allow a longer deadline or send a smaller image',
      );
    }
    return loadRefusal(
      `server busy: about ${Math.round(waitMs)} ms of ${priority === 'batch' ? 'queued' : 'interactive'} work ahead ` +
        // Weighed from its headers with a deadline too short for a typical call, its own work is not counted (refusalBeforeRequest).
        (ownMs > 0 ? `and about ${Math.round(ownMs)} ms for this call ` : '') +
        // Where the server's longest wait, not the deadline, bounds the room, a longer deadline would not help: said so.
        `would not fit in ${bounded ? `its deadline's ${Math.round(left)} ms` : `this server's longest wait of ${this.config.maxWaitMs} ms (its --max-wait-ms)`}; ` +
        (retryAfterMs >= left
          ? `no retry within its deadline would: send it again in ${newCallAfterMs} ms with as long a deadline, or on another instance`
          : retryAfterMs > newCallAfterMs
            ? `retry in ${retryAfterMs} ms (a new call with as long a deadline: in ${newCallAfterMs} ms) or on another instance`
            : `retry in ${retryAfterMs} ms or on another instance`),
      retryAfterMs,
      newCallAfterMs,
    );
  }

  /**
   * Put this machine's speed in place of the starting estimates: `lineMs`, its recognizer's time on
   * the calibration line in `precision`, scaled by CALIBRATION_LINES_PER_UNIT. The starting estimates were measured
   * on one machine; on a core several times slower, a fresh instance admitted a burst several times
   * larger than it could answer in time, and learning a tenth a call took dozens of calls to correct
   * that (docs/BENCHMARKS.md, "A burst after a quiet spell"). Calls already learned from keep their
   * weight: only what is left of the starting estimate in the running one is replaced.
   */
  calibrate(lineMs: number, precision: Precision = 'float32'): void {
    if (!(lineMs > 0) || !Number.isFinite(lineMs)) return;
    for (const kind of ['page', 'line'] as const) {
      const startWeight = (1 - LEARNING_RATE) ** this.learned[kind];
      this.msPerUnit[kind] += startWeight * (CALIBRATION_LINES_PER_UNIT[precision][kind] * lineMs - INITIAL_MS_PER_UNIT[kind]);
    }
  }

  private learn(cost: CallCost, spentMs: number): void {
    if (cost.units <= 0 || spentMs <= 0) return;
    const observed = spentMs / cost.units;
    this.msPerUnit[cost.kind] += LEARNING_RATE * (observed - this.msPerUnit[cost.kind]);
    this.learned[cost.kind]++;
  }
}
