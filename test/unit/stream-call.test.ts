import { Duplex } from 'node:stream';
import { Metadata, status, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import { pino } from 'pino';
import type { ServiceContext } from '../../src/server/call-context.js';
import { bidiStream, type StreamHandler } from '../../src/server/stream-call.js';
import { OcrError } from '../../src/shared/errors.js';
import { idleMetrics } from '../support/idle-metrics.js';

function context(): ServiceContext {
  const metrics = idleMetrics();
  // The wrapper uses the logger and the metrics only.
  return { logger: pino({ level: 'silent' }), metrics } as unknown as ServiceContext;
}

/**
 * A bidi call as grpc-js hands it to a handler: each _read takes one message off the wire (grpc-js's
 * startRead), an 'error' becomes the status the call ends with, and end() ends it OK.
 */
class FakeCall extends Duplex {
  readonly written: unknown[] = [];
  /** Messages taken off the wire so far. */
  pulled = 0;
  /** The status sent: null while none is. */
  sent: { code: status; details: string; metadata?: Metadata } | null = null;
  private readonly wire: unknown[] = [];
  private wanted = 0;
  private halfClosed = false;
  private errorStatus: ServiceError | null = null;

  constructor(
    private readonly deadline: number = Infinity,
    readonly metadata = new Metadata(),
  ) {
    super({ objectMode: true });
    this.on('error', (err: ServiceError) => {
      this.errorStatus = err;
      this.end();
    });
  }

  getDeadline(): number {
    return this.deadline;
  }

  getPeer(): string {
    return 'ipv4:127.0.0.1:1';
  }

  /** The client sends messages. */
  send(...messages: unknown[]): void {
    this.wire.push(...messages);
    this.feed();
  }

  /** The client half-closes. */
  halfClose(): void {
    this.halfClosed = true;
    this.feed();
  }

  override _read(): void {
    this.wanted++;
    this.feed();
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: () => void): void {
    this.written.push(chunk);
    callback();
  }

  override _final(callback: () => void): void {
    const e = this.errorStatus;
    this.sent = e ? { code: e.code, details: e.details, metadata: e.metadata } : { code: status.OK, details: 'OK' };
    callback();
  }

  private feed(): void {
    while (this.wanted > 0 && this.wire.length > 0) {
      this.wanted--;
      this.pulled++;
      this.push(this.wire.shift());
    }
    if (this.wanted > 0 && this.halfClosed && this.wire.length === 0) this.push(null);
  }
}

const asCall = (call: FakeCall): ServerDuplexStream<number, number> => call as unknown as ServerDuplexStream<number, number>;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function countOf(ctx: ServiceContext, code: string): Promise<number> {
  const metric = await ctx.metrics.requests.get();
  return metric.values.find((v) => v.labels.code === code)?.value ?? 0;
}

async function totalCount(ctx: ServiceContext): Promise<number> {
  const metric = await ctx.metrics.requests.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

async function latencySamples(ctx: ServiceContext): Promise<number> {
  const metric = await ctx.metrics.latency.get();
  return metric.values.find((v) => v.metricName === 'ocr_request_duration_seconds_count')?.value ?? 0;
}

/** Polls until `check` holds; the wrapper works on timers and stream events. */
async function until(check: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function serve(ctx: ServiceContext, handler: StreamHandler<number, number>, call: FakeCall): void {
  bidiStream(ctx, 'RecognizeTiles', handler)(asCall(call));
}

describe('streaming call wrapper', () => {
  it('answers OK once the handler and its forked tasks are done, with one metric sample', async () => {
    const ctx = context();
    const call = new FakeCall(Date.now() + 5000);
    let handlerReturned = false;
    serve(
      ctx,
      async (messages, c) => {
        for await (const m of messages) {
          c.fork(async () => {
            await sleep(30);
            c.write(m * 10);
          });
        }
        handlerReturned = true;
      },
      call,
    );
    call.send(1, 2, 3);
    call.halfClose();
    await until(() => handlerReturned, 'the handler to return');
    // The tasks still run: the call is not over yet.
    expect(call.sent).to.equal(null);
    await until(() => call.sent !== null, 'the status');
    expect(call.sent!.code).to.equal(status.OK);
    expect(call.written).to.deep.equal([10, 20, 30]);
    expect(await countOf(ctx, 'OK')).to.equal(1);
    expect(await totalCount(ctx)).to.equal(1);
    expect(await latencySamples(ctx)).to.equal(1);
  });

  it('takes the next message off the wire only when the handler asks for it, one ahead at most', async () => {
    const ctx = context();
    const call = new FakeCall();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const seen: number[] = [];
    serve(
      ctx,
      async (messages) => {
        for await (const m of messages) {
          seen.push(m);
          if (m === 0) await held;
        }
      },
      call,
    );
    call.send(...Array.from({ length: 20 }, (_, i) => i));
    call.halfClose();
    await until(() => seen.length === 1, 'the first message');
    await sleep(50);
    // Node's object-mode default would have read 16 ahead into the paused call.
    expect(call.pulled).to.be.at.most(2);
    release();
    await until(() => call.sent !== null, 'the status');
    expect(seen).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
    expect(call.sent!.code).to.equal(status.OK);
  });

  it("maps the handler's error to its status, once: OcrError codes, RESOURCE_EXHAUSTED's pushback, INTERNAL for the rest", async () => {
    const cases: [unknown, status, RegExp][] = [
      [new OcrError('INVALID_ARGUMENT', 'tile 3 is no image'), status.INVALID_ARGUMENT, /^tile 3 is no image$/],
      [new OcrError('RESOURCE_EXHAUSTED', 'server busy', 250), status.RESOURCE_EXHAUSTED, /^server busy$/],
      [new Error('boom'), status.INTERNAL, /^internal error: boom$/],
    ];
    for (const [thrown, code, details] of cases) {
      const ctx = context();
      const call = new FakeCall();
      serve(
        ctx,
        async (messages) => {
          for await (const _ of messages) throw thrown;
        },
        call,
      );
      call.send(1, 2);
      await until(() => call.sent !== null, 'the status');
      expect(call.sent!.code).to.equal(code);
      expect(call.sent!.details).to.match(details);
      if (code === status.RESOURCE_EXHAUSTED) expect(call.sent!.metadata!.get('grpc-retry-pushback-ms')).to.deep.equal(['250']);
      await sleep(20);
      expect(await countOf(ctx, status[code])).to.equal(1);
      expect(await totalCount(ctx)).to.equal(1);
      expect(await latencySamples(ctx)).to.equal(0);
    }
  });

  it("a forked task's failure ends the call at once, while the handler still waits for the client", async () => {
    const ctx = context();
    const call = new FakeCall();
    let handlerError: unknown = null;
    let signal: AbortSignal | null = null;
    serve(
      ctx,
      async (messages, c) => {
        signal = c.signal;
        try {
          for await (const _ of messages) c.fork(() => Promise.reject(new OcrError('INVALID_ARGUMENT', 'image a: uncovered')));
        } catch (err) {
          handlerError = err;
          throw err;
        }
      },
      call,
    );
    // The client sends one message and then nothing: no half-close.
    call.send(1);
    await until(() => call.sent !== null, 'the status');
    expect(call.sent!.code).to.equal(status.INVALID_ARGUMENT);
    expect(call.sent!.details).to.equal('image a: uncovered');
    await until(() => handlerError !== null, 'the waiting handler to be released');
    expect(signal!.aborted).to.equal(true);
    expect(await totalCount(ctx)).to.equal(1);
  });

  it('counts a stream finished after its deadline as DEADLINE_EXCEEDED, never OK, and sends nothing', async () => {
    const ctx = context();
    const call = new FakeCall(Date.now() + 20);
    let done = false;
    serve(
      ctx,
      async (messages, c) => {
        for await (const m of messages) c.write(m);
        await sleep(60);
        c.write(99);
        done = true;
      },
      call,
    );
    call.send(1);
    call.halfClose();
    await until(() => done, 'the handler');
    await sleep(20);
    expect(call.sent).to.equal(null);
    expect(await countOf(ctx, 'OK')).to.equal(0);
    expect(await countOf(ctx, 'DEADLINE_EXCEEDED')).to.equal(1);
    expect(await totalCount(ctx)).to.equal(1);
  });

  it('a caller that leaves ends the call at once: CANCELLED (DEADLINE_EXCEEDED past the deadline), the signal aborts, nothing more is sent', async () => {
    for (const [deadlineInMs, code] of [
      [5000, 'CANCELLED'],
      [10, 'DEADLINE_EXCEEDED'],
    ] as const) {
      const ctx = context();
      const call = new FakeCall(Date.now() + deadlineInMs);
      let taskDone = false;
      let waitError: unknown = null;
      let signal: AbortSignal | null = null;
      serve(
        ctx,
        async (messages, c) => {
          signal = c.signal;
          c.fork(async () => {
            await sleep(50);
            c.write(1);
            taskDone = true;
          });
          try {
            for await (const _ of messages);
          } catch (err) {
            waitError = err;
          }
        },
        call,
      );
      await sleep(20);
      // grpc-js's word that the caller is gone: its cancellation, or its deadline passing.
      call.emit('cancelled', 'cancelled');
      expect(signal!.aborted).to.equal(true);
      await until(() => waitError !== null, 'the waiting handler to be released');
      await until(() => taskDone, 'the task');
      await sleep(10);
      expect(call.sent).to.equal(null);
      expect(call.written).to.deep.equal([]);
      expect(await countOf(ctx, code)).to.equal(1);
      expect(await totalCount(ctx)).to.equal(1);
    }
  });

  it('the idle limit runs only while the handler waits on its client with no task running', async () => {
    const ctx = context();
    const call = new FakeCall();
    const started = Date.now();
    serve(
      ctx,
      async (messages, c) => {
        c.limitIdle(80, () => new OcrError('DEADLINE_EXCEEDED', 'no message for 0.08 s'));
        for await (const _ of messages) {
          // Work on a message, then a task, each longer than the limit: neither is the client's wait.
          await sleep(120);
          c.fork(() => sleep(120));
        }
      },
      call,
    );
    call.send(1);
    await until(() => call.sent !== null, 'the status');
    expect(call.sent!.code).to.equal(status.DEADLINE_EXCEEDED);
    expect(call.sent!.details).to.equal('no message for 0.08 s');
    // 120 ms on the message, 120 ms of task, then 80 ms of waiting on the client.
    expect(Date.now() - started).to.be.at.least(300);
    expect(await totalCount(ctx)).to.equal(1);
  });

  it('refuses an unknown ocr-priority with INVALID_ARGUMENT, and hands a known one to the handler', async () => {
    for (const given of ['urgent', 'batch']) {
      const ctx = context();
      const metadata = new Metadata();
      metadata.set('ocr-priority', given);
      const call = new FakeCall(Infinity, metadata);
      let priority: string | undefined;
      serve(
        ctx,
        async (messages, c) => {
          priority = c.priority;
          for await (const _ of messages);
        },
        call,
      );
      call.halfClose();
      await until(() => call.sent !== null, 'the status');
      if (given === 'urgent') {
        expect(call.sent!.code).to.equal(status.INVALID_ARGUMENT);
        expect(call.sent!.details).to.match(/ocr-priority.*'interactive' or 'batch'/);
      } else {
        expect(call.sent!.code).to.equal(status.OK);
        expect(priority).to.equal('batch');
      }
    }
  });
});
