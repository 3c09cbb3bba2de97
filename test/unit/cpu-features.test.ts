import os from 'node:os';
import { expect } from 'chai';
import { hasInt8DotProduct } from '../../src/engine/runtime/cpu-features.js';

describe('CPU features', () => {
  const cpuinfo = (flags: string) => () => `processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: ${flags}\nbugs\t\t: sysret_ss_attrs\n`;

  it('finds VNNI, AVX-512 or AVX form, among the flags of an x86-64 CPU', function () {
    if (os.arch() !== 'x64') this.skip();
    expect(hasInt8DotProduct(cpuinfo('fpu sse2 avx2 avx512f avx512_vnni avx512_bf16'))).to.equal(true);
    expect(hasInt8DotProduct(cpuinfo('fpu sse2 avx2 avx_vnni'))).to.equal(true);
  });

  it('says no without VNNI, and where /proc/cpuinfo cannot be read', () => {
    expect(hasInt8DotProduct(cpuinfo('fpu sse2 avx2 avx512f avx512bw'))).to.equal(false);
    expect(hasInt8DotProduct(cpuinfo('fpu sse2 avx2 avx512_vnnix'))).to.equal(false);
    expect(
      hasInt8DotProduct(() => {
        throw new Error('ENOENT');
      }),
    ).to.equal(false);
  });
});
