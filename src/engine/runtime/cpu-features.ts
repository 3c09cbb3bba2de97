import { readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * Whether this CPU multiplies uint8 by int8 into 32-bit sums in one instruction (x86 VNNI), where
 * onnxruntime's int8 products are both fast and free of 16-bit saturation. Read from Linux's
 * /proc/cpuinfo; false wherever it cannot be read.
 */
export function hasInt8DotProduct(cpuinfo: () => string = () => readFileSync('/proc/cpuinfo', 'utf8')): boolean {
  if (os.arch() !== 'x64') return false;
  try {
    const flags = /^flags\s*:(.*)$/m.exec(cpuinfo())?.[1]?.split(/\s+/) ?? [];
    return flags.includes('avx512_vnni') || flags.includes('avx_vnni');
  } catch {
    return false;
  }
}
