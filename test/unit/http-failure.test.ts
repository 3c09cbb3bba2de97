import { Metadata, status as Status } from '@grpc/grpc-js';
import { DEADLINE_PASSED, toOcrCallError } from '../../src/client/index.js';
import { expect } from 'chai';
import { toHttpFailure } from '../../src/http/failure.js';
import { OcrError } from '../../src/shared/errors.js';

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
    const server = toOcrCallError(
      Object.assign(new Error('4 DEADLINE_EXCEEDED'), {
        ...grpcJs,
        details: 'this call needs about 2223 ms of work and its deadline leaves 1997 ms',
      }),
    );
    expect(server.details).to.match(/its deadline leaves 1997 ms$/);
    expect(toHttpFailure(server)).to.deep.equal({ status: 504, code: 'DEADLINE_EXCEEDED', message: failure.message });
    const engine = new OcrError('DEADLINE_EXCEEDED', 'this call needs about 166 ms of work and its deadline leaves 2 ms');
    expect(toHttpFailure(engine)).to.deep.equal({ status: 504, code: 'DEADLINE_EXCEEDED', message: failure.message });
  });

  it('answers 413 without Retry-After for a refusal no retry can fix', () => {
    const tooLarge = toHttpFailure(callError('RESOURCE_EXHAUSTED', { 'grpc-retry-pushback-ms': '-1' }));
    expect(tooLarge.status).to.equal(413);
    expect(tooLarge.retryAfterMs).to.equal(undefined);
    expect(toHttpFailure(new OcrError('RESOURCE_EXHAUSTED', 'too large')).status).to.equal(413);
  });
});
