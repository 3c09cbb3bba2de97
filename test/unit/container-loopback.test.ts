import { expect } from 'chai';
import { containerLoopbackWarning } from '../../src/server/container-loopback.js';

describe('containerLoopbackWarning', () => {
  it("a container's main process (PID 1) on loopback: says that published ports reach none of it, and what to add", () => {
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]']) {
      const message = containerLoopbackWarning(host, 1);
      expect(message, host).to.include(`listening on ${host} as PID 1`).and.include('published with -p').and.include('--host 0.0.0.0');
    }
  });

  it("says nothing on an address others reach, or for a process that is not PID 1 (a developer's machine)", () => {
    expect(containerLoopbackWarning('0.0.0.0', 1)).to.equal(null);
    expect(containerLoopbackWarning('::', 1)).to.equal(null);
    expect(containerLoopbackWarning('10.0.0.7', 1)).to.equal(null);
    expect(containerLoopbackWarning('127.0.0.1', 4242)).to.equal(null);
  });
});
