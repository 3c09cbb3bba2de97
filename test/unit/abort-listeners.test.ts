import { getEventListeners } from 'node:events';
import { expect } from 'chai';
import { onAbort } from '../../src/client/abort-listeners.js';

describe("the client's listeners on an AbortSignal", () => {
  it('registers one listener on the signal for many, and none once each is removed', () => {
    const controller = new AbortController();
    const stops = Array.from({ length: 20 }, () => onAbort(controller.signal, () => expect.fail('removed, yet called')));
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(1);
    for (const stop of stops) stop();
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
    controller.abort();
  });

  it('calls each listener still registered once when the signal aborts, and none registered after it aborted', () => {
    const controller = new AbortController();
    const called: string[] = [];
    onAbort(controller.signal, () => called.push('a'));
    const stopB = onAbort(controller.signal, () => called.push('b'));
    onAbort(controller.signal, () => called.push('c'));
    stopB();
    controller.abort();
    controller.abort();
    expect(called).to.deep.equal(['a', 'c']);
    // As addEventListener: a signal already aborted calls nothing more.
    onAbort(controller.signal, () => called.push('late'));
    expect(called).to.deep.equal(['a', 'c']);
  });
});
