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

  it('is the fewest significant digits that read back as the float32, for any value', () => {
    const shortest = (value: number): number => {
      const single = Math.fround(value);
      for (let digits = 1; ; digits++) {
        const decimal = Number(single.toPrecision(digits));
        if (Math.fround(decimal) === single) return decimal;
      }
    };
    let seed = 7;
    const random = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const values = [1e-7, 2 ** -20, 0.5, 0.1, 1 / 3, 3.4e38, -2.5, 1297.5];
    for (let i = 0; i < 20_000; i++) values.push(random(), random() * 4000, -random() * 1e-3, Math.round(random() * 8000) / 2);
    for (const value of values) expect(float32(value), String(value)).to.equal(shortest(value));
  });
});
