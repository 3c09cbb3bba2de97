import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { EVAL_DEV, ROOT } from '../../src/dev/repo-paths.js';

const run = promisify(execFile);

/** The replaced service's documented client, verbatim but for the server's address. */
const PYTHON_CLIENT = `import requests
url = "http://127.0.0.1:8080/api/ocr"
files = {'image': open('test_invoice.jpg', 'rb')}
result = requests.post(url, files=files).json()
for item in result['data']:
    print(f"文本: {item['text']}, 置信度: {item['confidence']:.3f}")
`;

/**
 * README's first steps on this checkout: `npm start` (gRPC on 50051, HTTP on 8080, no Consul),
 * then curl and the Python client that people already use, unchanged.
 */
describe('quick start: npm start, then curl and the Python client', function () {
  this.timeout(180_000);
  let server: ChildProcess;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-quickstart-'));
    copyFileSync(path.join(EVAL_DEV, 'docs', 'd000_invoice.jpg'), path.join(dir, 'test_invoice.jpg'));
    writeFileSync(path.join(dir, 'client.py'), PYTHON_CLIENT);
    // Its own process group, so that npm and the server it starts stop together.
    server = spawn('npm', ['start', '--silent'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    server.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/listening on 127\.0\.0\.1:50051 .* http 127\.0\.0\.1:8080/.test(out)) resolve();
      });
      server.once('exit', (code) =>
        reject(new Error(`npm start exited with ${code} before listening (ports 50051 and 8080 must be free): ${err}`)),
      );
    });
  });
  after(async () => {
    if (server?.exitCode === null) {
      process.kill(-server.pid!, 'SIGTERM');
      await once(server, 'exit');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers curl -F image=@scan.jpg http://127.0.0.1:8080/api/ocr', async () => {
    const { stdout } = await run('curl', ['-sS', '-F', 'image=@test_invoice.jpg', 'http://127.0.0.1:8080/api/ocr'], { cwd: dir });
    const answer = JSON.parse(stdout) as { code: number; msg: string; data: { text: string }[] };
    expect(answer).to.include({ code: 0, msg: 'success' });
    expect(answer.data.map((l) => l.text)).to.satisfy((texts: string[]) => texts.some((t) => /发票代码[:：]166277365573/.test(t)));
  });

  it("runs the replaced service's Python client unchanged (Debian's python3-requests)", async () => {
    const { stdout } = await run('/usr/bin/python3', ['client.py'], { cwd: dir }).catch((err: { stderr?: string }) => {
      throw new Error(`python3 client.py failed (CI installs python3-requests): ${err.stderr ?? JSON.stringify(err)}`);
    });
    const lines = stdout.trim().split('\n');
    expect(lines.length).to.be.above(10);
    expect(
      lines.some((l) => /^文本: 发票代码[:：]166277365573, 置信度: (0\.9\d\d|1\.000)$/.test(l)),
      stdout,
    ).to.equal(true);
    for (const line of lines) expect(line).to.match(/^文本: .+, 置信度: [01]\.\d{3}$/);
  });
});
