import { expect } from 'chai';
import { grpcTimeoutMs } from '../../src/server/grpc-timeout.js';

describe('grpc-timeout header', () => {
  it('reads each unit as milliseconds', () => {
    expect([grpcTimeoutMs('2H'), grpcTimeoutMs('3M'), grpcTimeoutMs('10S'), grpcTimeoutMs('250m')]).to.deep.equal([
      7_200_000, 180_000, 10_000, 250,
    ]);
    expect(grpcTimeoutMs('1500u')).to.be.closeTo(1.5, 1e-9);
    expect(grpcTimeoutMs('99999999n')).to.be.closeTo(99.999999, 1e-9);
  });

  it('tells a missing header (no deadline) from a malformed one', () => {
    expect(grpcTimeoutMs(undefined)).to.equal(undefined);
    for (const malformed of ['', '10', 'S', '1x', '123456789S', '-1S', '1.5S', ' 1S', ['1S', '2S']]) {
      expect(grpcTimeoutMs(malformed), String(malformed)).to.equal(null);
    }
  });
});
