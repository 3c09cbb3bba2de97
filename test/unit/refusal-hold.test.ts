import { expect } from 'chai';
import { HTTP_REFUSAL_HOLD_MS, httpRefusalHold } from '../../src/http/refusal-hold.js';

describe('httpRefusalHold', () => {
  it('holds a refusal a second from the request’s arrival; Retry-After says what is left of the wait, in whole seconds', () => {
    expect(HTTP_REFUSAL_HOLD_MS).to.equal(1000);
    expect(httpRefusalHold(400, 0, undefined, true)).to.deep.equal({ holdMs: 1000, retryAfterS: 0 });
    expect(httpRefusalHold(2500, 0, undefined, true)).to.deep.equal({ holdMs: 1000, retryAfterS: 2 });
    // The time the request took already counts as held.
    expect(httpRefusalHold(60_000, 700, undefined, true)).to.deep.equal({ holdMs: 300, retryAfterS: 60 });
    expect(httpRefusalHold(60_000, 1500, undefined, true)).to.deep.equal({ holdMs: 0, retryAfterS: 60 });
  });

  it('never holds past half of what the timeout leaves, and not at all with pacing off', () => {
    expect(httpRefusalHold(5000, 0, 600, true)).to.deep.equal({ holdMs: 300, retryAfterS: 5 });
    expect(httpRefusalHold(5000, 0, undefined, false)).to.deep.equal({ holdMs: 0, retryAfterS: 5 });
  });
});
