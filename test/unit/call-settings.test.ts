import { expect } from 'chai';
import { callMetadata, callOptions, MAX_DEADLINE_MS } from '../../src/client/call-settings.js';

describe('call settings', () => {
  it('sends a deadline too far off for a timer as none, so that no server wraps it around', () => {
    expect(callOptions(30_000, { deadlineMs: MAX_DEADLINE_MS }).deadline).to.be.instanceOf(Date);
    for (const deadlineMs of [MAX_DEADLINE_MS + 1, 2147483646, 2 ** 31, 99999999999, Infinity]) {
      expect(callOptions(30_000, { deadlineMs }), String(deadlineMs)).to.deep.equal({});
    }
  });

  it('names the type of a deadline that is not a number, so that "100" does not read as 100', () => {
    expect(() => callOptions(30_000, { deadlineMs: '100' as unknown as number })).to.throw(
      RangeError,
      'deadlineMs must be a number of milliseconds > 0 (or Infinity), got string "100"',
    );
    expect(() => callOptions(30_000, { deadlineMs: -1 })).to.throw(RangeError, /got -1$/);
  });

  it("sends a call's authorization value as given, and refuses one gRPC cannot carry without repeating it", () => {
    expect(callMetadata({ authorization: 'Basic dXNlcjpwYXNz', token: 'abc' }).get('authorization')).to.deep.equal(['Basic dXNlcjpwYXNz']);
    expect(callMetadata({ token: 'abc' }).get('authorization')).to.deep.equal(['Bearer abc']);
    expect(() => callMetadata({ authorization: 'Bearer s3cr3t\u00e9' }))
      .to.throw(RangeError)
      .that.satisfies((err: Error) => !err.message.includes('s3cr3t'));
  });

  it('sends a request id as x-request-id, the header the servers name a call by in their logs', () => {
    expect(callMetadata({ requestId: 'gw-7f3a' }).get('x-request-id')).to.deep.equal(['gw-7f3a']);
    expect(callMetadata({}).get('x-request-id')).to.deep.equal([]);
    expect(() => callMetadata({ requestId: 'caf\u00e9' })).to.throw(RangeError, /x-request-id must be printable ASCII/);
  });
});
