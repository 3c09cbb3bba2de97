import { Metadata } from '@grpc/grpc-js';
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

  it('answers 413 without Retry-After for a refusal no retry can fix', () => {
    const tooLarge = toHttpFailure(callError('RESOURCE_EXHAUSTED', { 'grpc-retry-pushback-ms': '-1' }));
    expect(tooLarge.status).to.equal(413);
    expect(tooLarge.retryAfterMs).to.equal(undefined);
    expect(toHttpFailure(new OcrError('RESOURCE_EXHAUSTED', 'too large')).status).to.equal(413);
  });
});
