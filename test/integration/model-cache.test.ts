import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { CLI, ROOT } from '../../src/dev/repo-paths.js';
import { runCli } from '../../src/dev/server-process.js';
import { OcrEngine } from '../../src/engine/engine.js';
import { textImage } from '../support/images.js';

/** Each file of the directory with its modification time. */
const listing = (dir: string): Record<string, number> =>
  Object.fromEntries(readdirSync(dir).map((f) => [f, statSync(path.join(dir, f)).mtimeMs]));

/** Start an engine on `cacheDir` (one worker), read one line with it, close it. */
async function startAndRead(cacheDir: string): Promise<string> {
  const engine = await OcrEngine.create({ workers: 1, detectorThreads: 1, modelCacheDir: cacheDir });
  try {
    return (await engine.recognize(await textImage('Cache 2024'))).lines.map((l) => l.text).join(' ');
  } finally {
    await engine.close();
  }
}

describe('the model cache across starts', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-model-cache-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a first start writes the rewritten models; a second loads them, writing nothing', async () => {
    const cacheDir = path.join(dir, 'cache');
    expect(await startAndRead(cacheDir)).to.contain('2024');
    const first = listing(cacheDir);
    const names = Object.keys(first)
      .filter((f) => f.endsWith('.onnx'))
      .sort();
    expect(names).to.have.length(3);
    // Beside them, the shipped files' digests: a second start neither reads nor hashes them, nor writes this again.
    expect(Object.keys(first)).to.include('shipped-digests.json').and.have.length(4);
    expect(names[0]).to.match(/^ch_PP-OCRv4_det_infer\.float32\.[0-9a-f]{32}\.onnx$/);
    expect(names[1]).to.match(/^ch_PP-OCRv4_rec_infer\.(int8|float32)\.[0-9a-f]{32}\.onnx$/);
    expect(names[2]).to.match(/^ch_ppocr_mobile_v2\.0_cls_infer\.float32\.[0-9a-f]{32}\.onnx$/);
    expect(await startAndRead(cacheDir)).to.contain('2024');
    expect(listing(cacheDir), 'the same files, not written again').to.deep.equal(first);
    // The command finds what the engine wrote: the two agree on every key.
    const prepared = await runCli(['prepare-models', '--model-cache', cacheDir]);
    expect(prepared.code, prepared.stderr).to.equal(0);
    expect(
      prepared.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t').slice(0, 3).join(' ')),
    ).to.have.members([
      'det float32 cached',
      'cls float32 cached',
      `rec ${prepared.stdout.includes('rec\tint8') ? 'int8' : 'float32'} cached`,
    ]);
    expect(listing(cacheDir)).to.deep.equal(first);
  });

  it('prepare-models fails naming the directory it cannot make under /proc, rather than spin there', async () => {
    const cacheDir = '/proc/ocr-model-cache/models';
    // Bounded: Node's recursive mkdir loops forever there, and a child that hangs must not outlive the test.
    const child = spawn(process.execPath, [CLI, 'prepare-models', '--model-cache', cacheDir], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 100_000,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    expect(signal).to.equal(null);
    expect(code).to.equal(1);
    expect(stderr).to.match(
      /^ocr prepare-models: cannot write \/proc\/ocr-model-cache\/models\/\S+\.onnx: ENOENT: .*'\/proc\/ocr-model-cache'\n$/,
    );
  });

  it('starts where the cache cannot be written, the models rewritten in memory', async () => {
    const blocked = path.join(dir, 'a-file');
    writeFileSync(blocked, '');
    expect(await startAndRead(path.join(blocked, 'cache'))).to.contain('2024');
  });
});
