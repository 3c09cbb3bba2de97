/**
 * Answers that come in crowds, given a slice of the main thread at a time. A flood of calls that
 * arrive together (a thousand stalled uploads opened on forty connections) is refused together, and
 * each refusal's hold ends in the same timer turn: answering them, then resetting their streams a
 * turn later, held the main thread for hundreds of milliseconds at a stretch, and another caller's
 * GetServerInfo waited behind them (docs/BENCHMARKS.md, "Answers in slices"). Here the answers
 * wait in one queue, run in order, a few milliseconds' worth per turn of the event loop; the loop
 * polls its sockets between two slices. An answer queued while a slice runs waits for the next
 * turn, as setImmediate would have it: a stream's reset then follows its status's frames.
 * Unlike MainThreadTurns (engine/runtime), which gives each awaited copy a turn of its own, this
 * runs plain callbacks, as many as fit in a slice: a refusal's answer is a fraction of a millisecond.
 */

/** Main-thread time one turn may give to queued answers: short beside the 200 ms another caller may wait. */
export const ANSWER_SLICE_MS = 5;

/** The clock and the next turn of the event loop; replaced in unit tests. */
export interface AnswerTurns {
  now(): number;
  next(run: () => void): void;
}

const EVENT_LOOP: AnswerTurns = { now: () => performance.now(), next: (run) => setImmediate(run) };

export class SlicedAnswers {
  private queue: Array<() => void> = [];
  private scheduled = false;

  constructor(
    private readonly sliceMs = ANSWER_SLICE_MS,
    private readonly turns: AnswerTurns = EVENT_LOOP,
  ) {}

  /** Run `answer` in a later turn, after every answer queued before it. */
  run(answer: () => void): void {
    this.queue.push(answer);
    this.schedule();
  }

  /** How many answers wait. */
  get waiting(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    this.turns.next(() => this.slice());
  }

  private slice(): void {
    this.scheduled = false;
    // Only those queued before this turn: one queued by an answer runs in a later turn.
    const due = this.queue;
    this.queue = [];
    const started = this.turns.now();
    let done = 0;
    try {
      while (done < due.length) {
        due[done++]!();
        if (this.turns.now() - started >= this.sliceMs) break;
      }
    } finally {
      // An answer that throws fails as a timer's callback would; the others still run.
      this.queue = due.slice(done).concat(this.queue);
      this.schedule();
    }
  }
}

/** The server's: one main thread, one queue. */
export const slicedAnswers = new SlicedAnswers();
