import { Metadata, status as Status } from '@grpc/grpc-js';
import { CONNECTION_LOST, DEADLINE_PASSED, OcrCallError, toOcrCallError } from '../../src/client/index.js';
import { localRefusal } from '../../src/client/local-refusal.js';
import { expect } from 'chai';
import { QuotaLimiter } from '../../src/auth/quota.js';
import { Admission } from '../../src/engine/admission/admission.js';
import { MemoryBudget } from '../../src/engine/admission/memory-budget.js';
import { RETRY_AFTER, toHttpFailure } from '../../src/http/failure.js';
import { startingError } from '../../src/server/starting-service.js';
import { probeImage } from '../../src/engine/decode/decode.js';
import { OcrError, resourceExhausted } from '../../src/shared/errors.js';
import { tooLarge } from '../../src/shared/image-limit.js';
import sharp from 'sharp';

/** An SDK-like error: a status name, the server's description and its trailers. */
function callError(code: string, trailers: Record<string, string>): Error {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(trailers)) metadata.set(key, value);
  return Object.assign(new Error('refused'), { code, details: 'server busy', metadata });
}

describe('HTTP failures', () => {
  it('gives Retry-After for a new request: the new call hint where there is one, else the retry hint', () => {
    // A retry keeping its deadline would fit in 5.5 s; a new request with as long a timeout in 1.1 s.
    expect(toHttpFailure(new OcrError('RESOURCE_EXHAUSTED', 'server busy', 5500, 1100))).to.include({ status: 429, retryAfterMs: 1100 });
    expect(
      toHttpFailure(callError('RESOURCE_EXHAUSTED', { 'grpc-retry-pushback-ms': '5500', 'ocr-new-call-pushback-ms': '1100' })),
    ).to.include({
      status: 429,
      retryAfterMs: 1100,
      message: 'server busy',
    });
    expect(toHttpFailure(new OcrError('RESOURCE_EXHAUSTED', 'server busy', 5500))).to.include({ status: 429, retryAfterMs: 5500 });
    expect(toHttpFailure(callError('RESOURCE_EXHAUSTED', { 'grpc-retry-pushback-ms': '5500' }))).to.include({ retryAfterMs: 5500 });
    expect(toHttpFailure(callError('RESOURCE_EXHAUSTED', { 'grpc-retry-pushback-ms': '20' }))).to.include({ retryAfterMs: 20 });
  });

  it("answers 504 naming timeout_ms for any deadline, the SDK's without grpc-js's timings and the instance's address", () => {
    const grpcJs = Object.assign(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'), {
      code: Status.DEADLINE_EXCEEDED,
      details: 'Deadline exceeded after 1.996s,metadata filters: 0.001s,remote_addr=127.0.0.1:36163',
      metadata: new Metadata(),
    });
    const sdk = toOcrCallError(grpcJs, 'Recognize');
    expect(sdk.details).to.equal(DEADLINE_PASSED);
    const failure = toHttpFailure(sdk);
    expect(failure).to.include({ status: 504, code: 'DEADLINE_EXCEEDED' });
    expect(failure.message).to.match(/^timeout_ms passed before the answer came: allow a longer timeout_ms/);
    // A server's own description names gRPC's deadline: an HTTP caller reads its timeout_ms there too, as from the SDK's.
    // (An Error, as grpc-js gives: a spread of one is none, and toOcrCallError would take it as INTERNAL.)
    // With no more left than an answer needs to be on time, a refusal by admission comes as the deadline passes.
    const engine = new OcrError('DEADLINE_EXCEEDED', 'this call needs about 166 ms of work and its deadline leaves 2 ms');
    expect(toHttpFailure(engine)).to.deep.equal({ status: 504, code: 'DEADLINE_EXCEEDED', message: failure.message });
  });

  it('says that a request whose work would not fit in its timeout_ms was refused at once, not that its timeout_ms passed', async () => {
    // Admission's own refusal: 3 s of work on an idle server of one worker, 2 s of its deadline left.
    const admission = new Admission(new MemoryBudget(2 ** 30), { workers: 1, maxWaitMs: 30_000, deadlineShare: 0.8 });
    const cost = { bytes: 1, encodedBytes: 0, kind: 'page' as const, units: 2, what: 'a page' };
    const refusal = await admission
      .run(cost, { deadline: Date.now() + 2000 }, async () => 0)
      .then(
        () => expect.fail('admitted'),
        (err: OcrError) => err,
      );
    // As an instance's HTTP API has it, and as a gateway has it from the instance over gRPC.
    const relayed = toOcrCallError(
      Object.assign(new Error('4 DEADLINE_EXCEEDED'), {
        code: Status.DEADLINE_EXCEEDED,
        details: refusal.message,
        metadata: new Metadata(),
      }),
    );
    for (const err of [refusal, relayed]) {
      const failure = toHttpFailure(err);
      expect(failure).to.include({ status: 504, code: 'DEADLINE_EXCEEDED' });
      expect(failure.message).to.match(
        /^timeout_ms is too short for this request: its work is estimated at about 3000 ms, more than the \d+ ms left of it allow with a margin, so it was refused at once rather than when it passed; allow a longer timeout_ms, or send a smaller image$/,
      );
    }
  });

  it('answers 413 without Retry-After for a refusal no retry can fix', () => {
    const tooLarge = toHttpFailure(callError('RESOURCE_EXHAUSTED', { 'grpc-retry-pushback-ms': '-1' }));
    expect(tooLarge.status).to.equal(413);
    expect(tooLarge.retryAfterMs).to.equal(undefined);
    expect(toHttpFailure(new OcrError('RESOURCE_EXHAUSTED', 'too large')).status).to.equal(413);
  });

  /** What the refusal `err` says to a gRPC caller, and to an HTTP caller. */
  const bothWords = (err: OcrError | OcrCallError): [string, string] => [
    err instanceof OcrCallError ? err.details : err.message,
    toHttpFailure(err).message,
  ];
  /** What a gRPC caller reads and an HTTP caller cannot act on. */
  const GRPC_TERMS = /deadline|not sent|retry (?:it )?in \d+ ms|SERVING|maxAttempts/;

  it('words the refusals of admission, quotas and the SDK in HTTP terms, which gRPC callers keep', async () => {
    const cost = { bytes: 1, encodedBytes: 0, kind: 'page' as const, units: 2, what: 'a page' };
    const page = { ...cost, units: 1 };
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    /** An admission with 6 s of work ahead on 2 workers. */
    const busy = (maxWaitMs: number): Admission => {
      const admission = new Admission(new MemoryBudget(2 ** 30), { workers: 2, maxWaitMs, deadlineShare: 0.8 });
      for (let i = 0; i < 4; i++) void admission.run(cost, {}, () => done);
      return admission;
    };
    const refusalOf = (p: Promise<unknown>): Promise<OcrError> =>
      p.then(
        () => expect.fail('admitted'),
        (err: OcrError) => err,
      );
    const [bounded, unbounded] = [busy(30_000), busy(1)];
    const refusals = [
      // No retry within its deadline would; a new call sooner than a retry; no deadline at all.
      await refusalOf(bounded.run(page, { deadline: Date.now() + 5000 }, async () => 0)),
      await refusalOf(bounded.run(page, { deadline: Date.now() + 8000 }, async () => 0)),
      await refusalOf(unbounded.run(page, {}, async () => 0)),
    ];
    finish();
    const quota = new QuotaLimiter();
    await quota.admit('alice', { rps: 1, burst: 1 });
    refusals.push(await refusalOf(quota.admit('alice', { rps: 1, burst: 1 })));
    const local = localRefusal('interactive', 850);
    const sdk = new OcrCallError(local.code, local.details, { metadata: local.metadata });
    for (const [grpc, http] of [...refusals.map(bothWords), bothWords(sdk)]) {
      expect(grpc, 'as gRPC callers read it').to.match(GRPC_TERMS);
      expect(http, grpc).to.not.match(GRPC_TERMS);
      expect(http, grpc).to.contain(RETRY_AFTER);
    }
    const [, deadlineBound] = bothWords(refusals[1]!);
    expect(deadlineBound).to.match(/would not fit in the \d+ ms left of its timeout_ms; /);
    expect(bothWords(sdk)[1]).to.equal(`every instance refused interactive calls for load: ${RETRY_AFTER}, or allow a longer timeout_ms`);
  });

  it('tells an HTTP caller where tiles go, which gRPC callers are not told: over the gRPC API', async () => {
    const png = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const refusals = [
      await probeImage(png, { maxPixels: 100, minSide: 1 }).then(
        () => expect.fail('probed'),
        (err: unknown) => err,
      ),
      (() => {
        try {
          new MemoryBudget(1024).checkFits(2048);
        } catch (err) {
          return err;
        }
        return expect.fail('fitted');
      })(),
      resourceExhausted(tooLarge(1024, false)),
    ];
    for (const err of refusals) {
      const grpc = (err as OcrError).message;
      const http = toHttpFailure(err);
      expect(grpc, 'as gRPC callers read it').to.match(/send it as tiles/);
      expect(http.status, grpc).to.equal(413);
      expect(http.message, grpc).to.contain(
        'send it as tiles over the gRPC API (RecognizeTiles; `ocr recognize --tile-size 1024 FILE` does it)',
      );
    }
  });

  it("tells an HTTP caller of a starting server to watch /readyz, and a gateway's of a lost connection to try again", () => {
    const starting = toHttpFailure(startingError());
    expect(starting).to.include({ status: 503 });
    expect(starting.message).to.match(/^the server is starting: .*\/readyz answers 200$/);
    const lost = toHttpFailure(new OcrCallError(Status.UNAVAILABLE, CONNECTION_LOST));
    expect(lost.message).to.not.match(GRPC_TERMS);
    expect(lost.message).to.match(/try again$/);
  });
});
