import { expect } from 'chai';
import { float32 } from '../../src/http/response-json.js';

describe('float fields as JSON', () => {
  it('gives the float32 of the gRPC answer, in its shortest decimal, whether it came as a double or as a float32', () => {
    const double = 0.9969020962715149;
    expect(float32(double)).to.equal(0.9969021);
    expect(float32(Math.fround(double))).to.equal(0.9969021);
    expect(float32(0.6)).to.equal(0.6);
    expect(float32(Math.fround(0.6))).to.equal(0.6);
    expect(float32(906)).to.equal(906);
    expect(float32(0)).to.equal(0);
  });
});
