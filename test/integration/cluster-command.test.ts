import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import { STOP_WHEN_STDIN_ENDS } from '../../src/cli/stop-signals.js';
import { OcrClient } from '../../src/client/index.js';
import { withChildren } from '../../src/dev/process-cpu.js';
import { CLI, ROOT } from '../../src/dev/repo-paths.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { withTakenPort } from '../../src/dev/free-port.js';
import { logLines } from '../support/log-lines.js';

interface Cluster {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
}

/** Every cluster a test started, for afterEach to end what is left of it. */
const started: Cluster[] = [];

/** `ocr cluster --instances 2` on `basePort`, as an operator runs it in a terminal, with what it prints so far. */
function startCluster(basePort: number): Cluster {
  const child = spawn(
    process.execPath,
    [CLI, 'cluster', '--instances', '2', '--base-port', String(basePort), '--base-http-port', String(basePort + 2), '--workers', '1'],
    {
      cwd: ROOT,
      env: { ...process.env, CONSUL_HTTP_ADDR: '' },
      // Its own process group, as a shell gives a foreground job: Ctrl-C goes to the group.
      detached: true,
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const cluster = { child, out: () => out, err: () => err };
  started.push(cluster);
  return cluster;
}

/** Whether process `pid` has ended: gone, or a zombie that nothing has reaped yet (Linux /proc). */
function ended(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** The instances' pids, as the command prints them. */
const instancePids = (err: string): number[] => [...err.matchAll(/instance on port \d+: pid (\d+)/g)].map((m) => Number(m[1]));

/** Whether `pid` runs this checkout's `ocr`: a pid printed by an instance since gone may be another's by now. */
function runsOurCli(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(CLI);
  } catch {
    return false;
  }
}

/** SIGKILL to `pid` (negative: a process group) unless it has ended meanwhile. */
function killIfRunning(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Ends what a test left running, instances first: a failed test must not leave a cluster, nor
 * instances that outlived it, serving on its ports for the next run to find taken.
 */
function endLeftovers({ child, err }: Cluster): void {
  // Those it printed, and those it runs that it did not print (a failure before it printed them).
  const instances = new Set([...instancePids(err()), ...withChildren(child.pid!).slice(1)]);
  for (const pid of [...instances].filter((p) => !ended(p) && runsOurCli(p))) killIfRunning(pid);
  if (child.exitCode === null && child.signalCode === null) killIfRunning(-child.pid!);
}

/** `ocr cluster` as an operator runs it: N instances, then Ctrl-C (SIGINT) stops them all cleanly. */
describe('ocr cluster', function () {
  this.timeout(120_000);

  afterEach(function () {
    for (const cluster of started.splice(0)) {
      if (this.currentTest?.state === 'failed') process.stderr.write(`the cluster's output:\n${cluster.out()}\n${cluster.err()}\n`);
      endLeftovers(cluster);
    }
  });

  it('starts N instances on consecutive ports and stops them all on SIGINT, exiting 0', async () => {
    const basePort = 20_000 + (process.pid % 20_000);
    const { child, out, err } = startCluster(basePort);
    await waitFor(() => (out().match(/listening on/g) ?? []).length === 2, 60_000, 'both instances listening');
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
    expect(code, `its output:\n${out()}\n${err()}`).to.equal(0);
  });

  it('kill -9 of one serving instance leaves the other serving (failover can be tried), and Ctrl-C then exits 1', async () => {
    const basePort = 20_000 + ((process.pid + 10) % 20_000);
    const { child, out, err } = startCluster(basePort);
    await waitFor(() => (out().match(/listening on/g) ?? []).length === 2, 60_000, 'both instances listening');
    const [pid] = instancePids(err());
    expect(pid, err()).to.be.greaterThan(0);
    process.kill(pid!, 'SIGKILL');
    await waitFor(() => /exited \(SIGKILL\)/.test(err()), 30_000, 'the cluster reporting the instance gone');
    // Written in the same turn as the report when the command stopped the others.
    expect(err()).to.not.match(/stopping/);
    expect(err()).to.match(/exited \(SIGKILL\); 1 still running/);
    const survivor = new OcrClient(`127.0.0.1:${basePort + 1}`);
    try {
      expect((await survivor.getServerInfo()).instanceId).to.match(/\S/);
    } finally {
      survivor.close();
    }
    process.kill(-child.pid!, 'SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, `its output:\n${out()}\n${err()}`).to.equal(1);
  });

  it('an instance that cannot start (its port taken) stops the others, and the command exits 1', async () => {
    await withTakenPort(async (port) => {
      const { child, out, err } = startCluster(port);
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code, `its output:\n${out()}\n${err()}`).to.equal(1);
      expect(err()).to.match(new RegExp(`instance on port ${port} exited \\(1\\) before it listened; stopping the others`));
      // The instance names `ocr serve`'s flags; the operator ran `ocr cluster`, whose flags differ.
      expect(err()).to.contain('where it says --port or --http-port, give ocr cluster --base-port or --base-http-port\n');
    });
  });

  it('its instances drain and exit when the command itself is killed (kill -9), leaving no orphan holding the ports', async () => {
    const basePort = 20_000 + ((process.pid + 30) % 20_000);
    const { child, out, err } = startCluster(basePort);
    await waitFor(() => (out().match(/listening on/g) ?? []).length === 2, 60_000, 'both instances listening');
    const pids = instancePids(err());
    expect(pids, err()).to.have.length(2);
    child.kill('SIGKILL');
    await waitFor(() => pids.every(ended), 30_000, 'both instances to exit');
  });

  it('Ctrl-C stops an instance frozen with SIGSTOP too: it drains once running again, and the command exits 0', async () => {
    const basePort = 20_000 + ((process.pid + 40) % 20_000);
    const { child, out, err } = startCluster(basePort);
    await waitFor(() => (out().match(/listening on/g) ?? []).length === 2, 60_000, 'both instances listening');
    const [frozen] = instancePids(err());
    process.kill(frozen!, 'SIGSTOP');
    process.kill(-child.pid!, 'SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, `its output:\n${out()}\n${err()}`).to.equal(0);
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

  it('with stdin a regular file, ignores the variable with a warning and serves on (it crashed, the file having no unref)', async () => {
    const input = openSync(CLI, 'r');
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--no-http', '--workers', '1', '--log-level', 'warn'], {
      cwd: ROOT,
      env: { ...process.env, CONSUL_HTTP_ADDR: '', [STOP_WHEN_STDIN_ENDS]: '1' },
      stdio: [input, 'pipe', 'pipe'],
    });
    closeSync(input);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    try {
      // The warning comes as the command starts, its listening line once it serves: both are awaited.
      await waitFor(
        () => (err.includes('ignored') && /listening on/.test(out)) || child.exitCode !== null,
        60_000,
        'the warning and the listening line, or the instance to exit',
      );
      expect(child.exitCode, err).to.equal(null);
      const [warning] = logLines<{ level: number; msg: string }>(err);
      expect(warning?.level).to.equal(40);
      expect(warning?.msg).to.match(/^OCR_STOP_WHEN_STDIN_ENDS=1 ignored: stdin is not a pipe .*stop it with SIGTERM/);
      const port = /listening on [^\s]+:(\d+)/.exec(out)![1];
      const client = new OcrClient(`127.0.0.1:${port}`, { maxAttempts: 1 });
      expect((await client.getServerInfo()).workers).to.equal(1);
      client.close();
    } finally {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        expect((await exited)[0]).to.equal(0);
      }
    }
  });
});
