import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { FORCED_EXIT } from '../../src/cli/stop-signals.js';
import { CLI, EVAL_DEV, ROOT } from '../../src/dev/repo-paths.js';
import { spawnGateway, spawnServer } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { logLines } from '../support/log-lines.js';

/** A page whose recognition takes seconds here: still in flight when the signals come. */
const page = readFileSync(path.join(EVAL_DEV, 'docs', 'd001_invoice.jpg'));

interface LogLine {
  level: number;
  msg: string;
  signal?: string;
  cut?: number;
}

/** POSTs the page to `url` and leaves it in flight; what the connection ends with is ignored. */
function pageInFlight(url: string): void {
  const body = new FormData();
  body.append('image', new Blob([page]), 'page.jpg');
  void fetch(`${url}/api/ocr`, { method: 'POST', body }).then(
    (r) => r.arrayBuffer(),
    () => undefined,
  );
}

/** Sends `first`, waits for the drain to be logged (`draining`), sends `second`; resolves with the exit status. */
async function twoSignals(
  child: ChildProcess,
  stderr: () => string,
  draining: string,
  first: NodeJS.Signals,
  second: NodeJS.Signals,
): Promise<number | null> {
  // 'close', not 'exit': the last log lines (the forced exit's) may still be in the pipe at 'exit'.
  const exited = once(child, 'close') as Promise<[number | null]>;
  child.kill(first);
  await waitFor(() => logLines<LogLine>(stderr()).some((l) => l.msg === draining), 10_000, `"${draining}" logged`);
  child.kill(second);
  return (await exited)[0];
}

/**
 * SIGTERM and SIGINT alike, on `ocr serve` and `ocr gateway`: the first drains, a second of either
 * kind during the drain ends the process at once with the shell's status for that signal, logged
 * at warn with how many calls it cut; nothing is logged twice.
 */
describe('a second stop signal during the drain', function () {
  this.timeout(120_000);

  for (const [first, second, status] of [
    ['SIGTERM', 'SIGINT', 130],
    ['SIGINT', 'SIGTERM', 143],
  ] as const) {
    it(`ocr serve: ${first} drains, ${second} then exits ${status} at once, cutting the call in flight`, async () => {
      const server = await spawnServer(['--workers', '1', '--log-level', 'info', '--grace-ms', '60000']);
      try {
        const url = `http://127.0.0.1:${server.httpPort}`;
        pageInFlight(url);
        await waitFor(
          async () => /^ocr_requests_in_flight(?:\{[^}]*\})? 1$/m.test(await fetch(`${url}/metrics`).then((r) => r.text())),
          10_000,
          'the page in flight',
        );
        const started = performance.now();
        const code = await twoSignals(server.child, () => server.stderr(), 'shutting down', first, second);
        expect(code, server.stderr()).to.equal(status);
        expect(performance.now() - started).to.be.lessThan(10_000);
        const lines = logLines<LogLine>(server.stderr());
        expect(lines.filter((l) => l.msg === 'shutting down')).to.have.length(1);
        const forced = lines.filter((l) => l.msg === FORCED_EXIT);
        expect(forced).to.have.length(1);
        expect(forced[0]).to.include({ level: 40, signal: second, cut: 1 });
      } finally {
        if (server.child.exitCode === null) server.child.kill('SIGKILL');
      }
    });
  }

  it('ocr gateway: SIGTERM drains, SIGINT then exits 130 at once, cutting the request in flight', async () => {
    // An instance that takes calls and never answers: the request stays in flight at the gateway.
    const silent = http2.createServer();
    silent.on('stream', () => undefined);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const gateway = await spawnGateway([
      '--target',
      `ipv4:127.0.0.1:${(silent.address() as AddressInfo).port}`,
      '--log-level',
      'info',
      '--grace-ms',
      '60000',
    ]);
    try {
      const reached = once(silent, 'stream');
      pageInFlight(gateway.url);
      await reached;
      const code = await twoSignals(gateway.child, () => gateway.stderr(), 'draining', 'SIGTERM', 'SIGINT');
      expect(code, gateway.stderr()).to.equal(130);
      const lines = logLines<LogLine>(gateway.stderr());
      expect(lines.filter((l) => l.msg === 'draining')).to.have.length(1);
      const forced = lines.filter((l) => l.msg === FORCED_EXIT);
      expect(forced).to.have.length(1);
      expect(forced[0]).to.include({ level: 40, signal: 'SIGINT', cut: 1 });
    } finally {
      if (gateway.child.exitCode === null) gateway.child.kill('SIGKILL');
      silent.close();
    }
  });
});

describe('a stop signal while the gateway starts', function () {
  this.timeout(60_000);

  it('ocr gateway: SIGTERM before it listens exits 0 without listening, as ocr serve does', async () => {
    const child = spawn(process.execPath, [CLI, 'gateway', '--target', '127.0.0.1:1', '--http-port', '0', '--log-level', 'info'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, 'close') as Promise<[number | null, string | null]>;
    try {
      // Said once its stop signals are taken, while its modules still load (about half a second).
      await waitFor(() => logLines<LogLine>(stderr).some((l) => l.msg === 'gateway starting'), 30_000, '"gateway starting" logged', 5);
      child.kill('SIGTERM');
      const [code, signal] = await exited;
      expect({ code, signal }, stderr).to.deep.equal({ code: 0, signal: null });
      expect(stdout, 'no listening line: it stopped before it served').to.equal('');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('a stop signal while the command still loads its modules', function () {
  this.timeout(60_000);

  // In a container node is PID 1, and the kernel drops a signal PID 1 has no handler for: a stop in
  // the first second went unheard until SIGKILL. Outside one, the same signal killed the process
  // outright. Either way the command had not yet taken it.
  for (const command of ['serve', 'gateway'] as const) {
    it(`ocr ${command}: SIGTERM while its modules load is taken once it starts, and it exits 0`, async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'import-gate-'));
      const gate = fileURLToPath(new URL('../support/import-gate.js', import.meta.url));
      const args =
        command === 'serve'
          ? ['serve', '--port', '0', '--no-http', '--workers', '1', '--log-level', 'info']
          : ['gateway', '--target', '127.0.0.1:1', '--http-port', '0', '--log-level', 'info'];
      // Held at commander, which the CLI's modules import first of all.
      const child = spawn(process.execPath, ['--import', gate, CLI, ...args], {
        cwd: ROOT,
        env: { ...process.env, IMPORT_GATE_SPECIFIER: 'commander', IMPORT_GATE_DIR: dir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.resume();
      const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
      try {
        await waitFor(() => existsSync(path.join(dir, 'reached')), 30_000, 'the CLI held while it loads its modules');
        child.kill('SIGTERM');
        writeFileSync(path.join(dir, 'open'), '');
        const [code, signal] = await exited;
        expect({ code, signal }, stderr).to.deep.equal({ code: 0, signal: null });
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    });
  }
});

describe('a stop signal once nothing reads the logs', function () {
  this.timeout(60_000);

  it('ocr gateway: exits 0 on SIGINT after its stderr reader is gone (`| pino-pretty` ended by the same Ctrl-C), not hung', async () => {
    const gateway = await spawnGateway(['--target', '127.0.0.1:1', '--log-level', 'info']);
    const { child } = gateway;
    try {
      // Its next log lines ('draining', 'stopped') go to a pipe without a reader: EPIPE.
      child.stderr!.destroy();
      child.kill('SIGINT');
      await waitFor(() => child.exitCode !== null || child.signalCode !== null, 30_000, 'the gateway to exit');
      expect({ code: child.exitCode, signal: child.signalCode }).to.deep.equal({ code: 0, signal: null });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
