import { expect } from 'chai';
import { signalExitStatus } from '../../src/cli/stop-signals.js';

describe('stop signals', () => {
  it('give a forced exit the status a shell gives a process the signal ended: 130 for SIGINT, 143 for SIGTERM', () => {
    expect(signalExitStatus('SIGINT')).to.equal(130);
    expect(signalExitStatus('SIGTERM')).to.equal(143);
  });
});
