import { EventEmitter } from 'node:events';
import { Metadata, status, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import { pino } from 'pino';
import type { ServiceContext } from '../../src/server/call-context.js';
import { unary } from '../../src/server/unary-call.js';
import { invalidArgument, loadRefusal, OcrError } from '../../src/shared/errors.js';
import { idleMetrics } from '../support/idle-metrics.js';

function context(): ServiceContext {
  const metrics = idleMetrics();
  // The wrapper uses the logger and the metrics only.
  return { logger: pino({ level: 'silent' }), metrics } as unknown as ServiceContext;
}

/** A unary call as grpc-js hands it to a handler, with a deadline `inMs` from now. */
function fakeCall(inMs: number, metadata = new Metadata()): ServerUnaryCall<object, string> {
  const call = Object.assign(new EventEmitter(), {
    request: {},
    metadata,
    getDeadline: () => new Date(Date.now() + inMs),
    getPeer: () => 'ipv4:127.0.0.1:1',
  });
  return call as unknown as ServerUnaryCall<object, string>;
}

async function countOf(ctx: ServiceContext, code: string): Promise<number> {
  const metric = await ctx.metrics.requests.get();
  return metric.values.find((v) => v.labels.code === code)?.value ?? 0;
}

describe('unary call wrapper', () => {
  it('counts an answer ready after its deadline as DEADLINE_EXCEEDED, never OK, and sends nothing', async () => {
    const ctx = context();
    let answered = false;
    const handler = unary<object, string>(ctx, 'Recognize', () => new Promise((resolve) => setTimeout(() => resolve('late'), 80)));
    const done = new Promise<void>((resolve) => setTimeout(resolve, 150));
    handler(fakeCall(20), () => (answered = true));
    await done;
    expect(answered).to.equal(false);
    expect(await countOf(ctx, 'OK')).to.equal(0);
    expect(await countOf(ctx, 'DEADLINE_EXCEEDED')).to.equal(1);
  });

  it('treats an answer ready in the last milliseconds before its deadline as late: it would reach the caller after it', async () => {
    const ctx = context();
    let answered = false;
    const handler = unary<object, string>(ctx, 'Recognize', async (_req, info) => {
      // Ready with at most 2 ms left, under ANSWER_MARGIN_MS.
      while (info.deadline! - Date.now() > 2) await new Promise((resolve) => setImmediate(resolve));
      return 'just in time';
    });
    handler(fakeCall(40), () => (answered = true));
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(answered).to.equal(false);
    expect(await countOf(ctx, 'OK')).to.equal(0);
    expect(await countOf(ctx, 'DEADLINE_EXCEEDED')).to.equal(1);
  });

  it('hands the deadline and priority to the work, and answers OK in time', async () => {
    const ctx = context();
    const metadata = new Metadata();
    metadata.set('ocr-priority', 'batch');
    const seen = await new Promise<{ deadline?: number; priority?: string }>((resolve) => {
      const handler = unary<object, string>(ctx, 'Recognize', async (_req, info) => {
        resolve({ deadline: info.deadline, priority: info.priority });
        return 'ok';
      });
      handler(fakeCall(5000, metadata), () => undefined);
    });
    expect(seen.priority).to.equal('batch');
    expect(seen.deadline! - Date.now()).to.be.within(4000, 5000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await countOf(ctx, 'OK')).to.equal(1);
  });

  it('sends grpc-retry-pushback-ms with a refusal for load (and the new call hint where sooner), -1 with one no retry can fix', async () => {
    const ctx = context();
    const refusal = async (err: OcrError): Promise<ServiceError> =>
      new Promise((resolve) =>
        unary<object, string>(ctx, 'Recognize', () => Promise.reject(err))(fakeCall(5000), (e) => resolve(e as ServiceError)),
      );
    const busy = await refusal(new OcrError('RESOURCE_EXHAUSTED', 'server busy', 250));
    expect(busy.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(busy.metadata.get('grpc-retry-pushback-ms')).to.deep.equal(['250']);
    expect(busy.metadata.get('ocr-new-call-pushback-ms')).to.deep.equal([]);
    const bounded = await refusal(new OcrError('RESOURCE_EXHAUSTED', 'server busy', 1250, 250));
    expect(bounded.metadata.get('grpc-retry-pushback-ms')).to.deep.equal(['1250']);
    expect(bounded.metadata.get('ocr-new-call-pushback-ms')).to.deep.equal(['250']);
    const tooLarge = await refusal(new OcrError('RESOURCE_EXHAUSTED', 'too large'));
    expect(tooLarge.metadata.get('grpc-retry-pushback-ms')).to.deep.equal(['-1']);
  });

  it('refuses an unknown ocr-priority with INVALID_ARGUMENT', async () => {
    const ctx = context();
    const metadata = new Metadata();
    metadata.set('ocr-priority', 'urgent');
    const err = await new Promise<ServiceError>((resolve) =>
      unary<object, string>(ctx, 'Recognize', async () => 'ok')(fakeCall(5000, metadata), (e) => resolve(e as ServiceError)),
    );
    expect(err.code).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.match(/ocr-priority.*'interactive' or 'batch'/);
  });

  it('logs a refusal for bad input at info and one for load at debug only (hundreds a second under overload), counting both', async () => {
    const lines: { level: number; msg: string; code: string; requestId: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as never) });
    const ctx = { logger, metrics: idleMetrics() } as unknown as ServiceContext;
    for (const error of [invalidArgument('not an image'), loadRefusal('server busy', 500)]) {
      const handler = unary<object, string>(ctx, 'Recognize', () => Promise.reject(error));
      await new Promise<void>((resolve) => handler(fakeCall(5000), () => resolve()));
    }
    expect(lines.map((l) => [l.level, l.msg, l.code])).to.deep.equal([[30, 'refused', 'INVALID_ARGUMENT']]);
    expect(lines[0]!.requestId).to.be.a('string');
    expect(await countOf(ctx, 'RESOURCE_EXHAUSTED')).to.equal(1);
  });
});
