import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect } from 'chai';
import { STOP_WHEN_STDIN_ENDS } from '../../src/cli/stop-signals.js';
import { OcrClient } from '../../src/client/index.js';
import { CLI, ROOT } from '../../src/dev/repo-paths.js';
import { waitFor } from '../../src/dev/wait-for.js';

/** `ocr cluster` as an operator runs it: N instances, then Ctrl-C (SIGINT) stops them all cleanly. */
describe('ocr cluster', function () {
  this.timeout(120_000);

  it('starts N instances on consecutive ports and stops them all on SIGINT, exiting 0', async () => {
    const basePort = 20_000 + (process.pid % 20_000);
    const child = spawn(
      process.execPath,
      [CLI, 'cluster', '--instances', '2', '--base-port', String(basePort), '--base-http-port', String(basePort + 2), '--workers', '1'],
      {
        cwd: ROOT,
        env: { ...process.env, CONSUL_HTTP_ADDR: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, as a shell gives a foreground job: Ctrl-C goes to the group.
        detached: true,
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(() => (out.match(/listening on/g) ?? []).length === 2, 60_000, 'both instances listening');
    const client = new OcrClient(`ipv4:127.0.0.1:${basePort},127.0.0.1:${basePort + 1}`, { loadBalancing: 'round_robin' });
    // round_robin spreads over the instances it has connected to: the second may still be connecting
    // when the first calls go, so calls are made until both have answered (each answers within a few).
    const ids = new Set<string>();
    for (let i = 0; i < 200 && ids.size < 2; i++) ids.add((await client.getServerInfo()).instanceId);
    client.close();
    expect(ids.size).to.equal(2);
    // Each instance has an HTTP port of its own, not 8080 for all.
    for (const p of [basePort + 2, basePort + 3]) expect((await fetch(`http://127.0.0.1:${p}/healthz`)).status).to.equal(200);
    process.kill(-child.pid!, 'SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, `its output:\n${out}\n${err}`).to.equal(0);
  });
});

/**
 * An instance as `ocr cluster` starts it: its stdin a pipe from the command, open for as long as
 * the command runs. A start that fails with no worker inside a native call ends by running out of
 * work (main.ts), which the read of that pipe must not prevent. A flag refused before the models
 * load fails so every time; a port found taken, only when the bind loses the race with the models.
 */
describe('ocr serve as an instance of ocr cluster', function () {
  this.timeout(120_000);

  it('exits 1 when its start fails, while the stdin the command holds open is still open', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--http-port', '0', '--quota-burst', '5', '--workers', '1'], {
      cwd: ROOT,
      env: { ...process.env, CONSUL_HTTP_ADDR: '', [STOP_WHEN_STDIN_ENDS]: '1' },
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await waitFor(() => child.exitCode !== null, 60_000, 'the instance to exit, its stdin still open');
      expect(child.exitCode, err).to.equal(1);
      expect(err).to.equal('ocr: --quota-burst goes with --quota-rps\n');
    } finally {
      // Its end stops an instance still running (stopWhenStdinEnds): none outlives the test.
      child.stdin.end();
    }
  });
});
