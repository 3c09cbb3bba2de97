import { expect } from 'chai';
import { loadRefusal, OcrError } from '../../src/shared/errors.js';

describe('loadRefusal', () => {
  it('is a RESOURCE_EXHAUSTED OcrError with its hint, and no stack frames to capture', () => {
    const limit = Error.stackTraceLimit;
    const refusal = loadRefusal('server busy: retry in 40 ms', 40);
    expect(refusal).to.be.instanceOf(OcrError);
    expect(refusal).to.include({ code: 'RESOURCE_EXHAUSTED', message: 'server busy: retry in 40 ms', retryAfterMs: 40 });
    expect(refusal.stack).to.not.match(/\n\s+at /);
    expect(Error.stackTraceLimit).to.equal(limit);
    expect(new Error('a fault').stack).to.match(/\n\s+at /);
  });
});
