import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect } from 'chai';
import { CLOSED_MID_CALL } from '../support/closed-mid-call.js';

describe('an engine closed during a model call', function () {
  this.timeout(120_000);

  it('lets its process exit 0 once its workers have exited (OcrEngine.exited), not abort when the call returns', async () => {
    const child = spawn(process.execPath, [CLOSED_MID_CALL], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(stderr).to.not.contain('terminate called');
    expect(code, stderr).to.equal(0);
    // The path under test: close() found the worker inside the model call and retired it.
    expect(JSON.parse(stdout) as { stuck: number }, 'workers left inside a model call by close()').to.deep.equal({ stuck: 1 });
  });
});
