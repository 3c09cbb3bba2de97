/**
 * The most memory a fresh node process holds to decode an image: an in-process reading would count
 * whatever earlier tests held at their peak. Read as the process's VmHWM (Linux): its
 * resourceUsage().maxRSS starts from the spawning process's own peak, which exec keeps, and in a
 * whole test run that is the test runner's (1.4 GB, where the decode took 80 MB).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A module of the build and the function of it that decodes the image: `decode(bytes)`, awaited. */
export interface Decoder {
  module: URL;
  decode: string;
}

/** The peak resident memory (MB) of a node process that imports `decoder.module` and decodes `image` with it once. */
export async function decodingPeakMb(decoder: Decoder, image: Buffer): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'decoding-peak-'));
  try {
    const file = path.join(dir, 'image');
    writeFileSync(file, image);
    const script =
      `const m = await import(${JSON.stringify(fileURLToPath(decoder.module))});` +
      `await m.${decoder.decode}(require('node:fs').readFileSync(${JSON.stringify(file)}));` +
      "console.log(/VmHWM:\\s+(\\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]);";
    const child = spawn(process.execPath, ['--input-type=commonjs', '-e', `(async () => { ${script} })()`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`the decoding process exited with ${code}: ${err}`);
    return Number(out.trim()) / 1024;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
