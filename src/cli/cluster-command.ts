import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { defaultWorkerCount } from '../engine/admission/memory-budget.js';
import { machineCores, machineMemoryBytes } from '../shared/machine-resources.js';
import { fileURLToPath } from 'node:url';
import { STOP_WHEN_STDIN_ENDS } from './stop-signals.js';

export interface ClusterOptions {
  instances: number;
  basePort: number;
  /** HTTP port of the first instance; the others follow. */
  baseHttpPort: number;
  host: string;
  /** Consul agent address, passed to every instance; unset: CONSUL_HTTP_ADDR or none. */
  consul?: string;
  serviceName: string;
  /** Inference workers per instance; unset: the cores shared out among the instances. */
  workers?: number;
  logLevel: string;
}

const CLI = fileURLToPath(new URL('../../../bin/ocr.js', import.meta.url));
/** The start of the line an instance prints on stdout once it serves (serve-command.ts). */
const LISTENING = 'ocr serve: listening on ';

/** Whether `child` has not exited yet. */
const live = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

/**
 * Sends `signal` to each instance, then SIGCONT: one frozen with SIGSTOP (trying failover) holds a
 * signal until it runs again, and the command, which waits for every instance, would wait for ever, Ctrl-C or not.
 */
function signalAll(instances: readonly ChildProcess[], signal: NodeJS.Signals): void {
  for (const child of instances) {
    child.kill(signal);
    child.kill('SIGCONT');
  }
}

/**
 * The flags of an instance given `workers` of a machine it shares with others: its workers, and its
 * detector's threads for a page alone within them (its default is two from a machine of two cores
 * or more, which each of two instances on two cores would then take, three threads on two cores).
 */
export function sharedMachineArgs(workers: number): string[] {
  return ['--workers', String(workers), '--detector-threads', String(Math.min(2, workers))];
}

/**
 * `ocr cluster`: N local `ocr serve` processes on consecutive ports, for trying the balancing and
 * failover of the SDK on one machine. Ctrl-C (or SIGTERM) stops them all cleanly: each drains, and
 * the command exits when the last one has: 0 when every instance drained cleanly, else 1.
 */
export async function clusterCommand(opts: ClusterOptions): Promise<number> {
  const workers = opts.workers ?? Math.max(1, Math.floor(defaultWorkerCount(machineCores(), machineMemoryBytes()) / opts.instances));
  const children: ChildProcess[] = [];
  const codes: Promise<number | null>[] = [];
  let stopping = false;
  /** The first signal drains every instance; a second one is passed on, and ends them at once (stop-signals.ts). */
  const stopAll = (signal: NodeJS.Signals = 'SIGTERM'): void => {
    const running = children.filter(live);
    if (stopping) {
      process.stderr.write(`ocr cluster: ${signal} again: ending ${running.length} instances now\n`);
      signalAll(running, signal);
      return;
    }
    stopping = true;
    process.stderr.write(`ocr cluster: stopping ${running.length} instances\n`);
    signalAll(running, 'SIGTERM');
  };
  // Before any child starts: a signal must stop them, never orphan them. SIGHUP too: the instances
  // are not in the terminal's process group (below), so closing the terminal reaches only this one.
  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);
  process.on('SIGHUP', stopAll);

  for (let i = 0; i < opts.instances; i++) {
    const port = opts.basePort + i;
    const httpPort = opts.baseHttpPort + i;
    const args = [
      CLI,
      'serve',
      '--host',
      opts.host,
      '--port',
      String(port),
      '--http-port',
      String(httpPort),
      ...sharedMachineArgs(workers),
      '--log-level',
      opts.logLevel,
    ];
    if (opts.consul) args.push('--consul', opts.consul, '--service-name', opts.serviceName);
    // A process group of its own: Ctrl-C in a terminal reaches this command alone, which passes it
    // on once. Reached by it too, an instance would take stopAll's SIGTERM as a second signal and
    // end at once instead of draining. Its stdin is a pipe from this command, never written: it
    // ends when this command is gone, however it went, and the instance then stops (stopWhenStdinEnds).
    const child = spawn(process.execPath, args, {
      stdio: ['pipe', 'pipe', 'inherit'],
      detached: true,
      env: { ...process.env, [STOP_WHEN_STDIN_ENDS]: '1' },
    });
    // Its pid, for trying failover by hand: kill -9 or SIGSTOP one instance while clients run.
    process.stderr.write(`ocr cluster: instance on port ${port}: pid ${child.pid}\n`);
    let out = '';
    let listening = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      if (!listening) listening = (out += chunk.toString()).includes(LISTENING);
      process.stdout.write(`[${port}] ${chunk.toString()}`);
    });
    // 'close', not 'exit': only then has stdout been read to the end. 'exit' can come before the
    // last 'data', the listening line still in it, and an instance that had served counted as one
    // that could not start.
    codes.push(once(child, 'close').then(([code]) => code as number | null));
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (stopping) return;
      const how = signal ?? code;
      if (!listening) {
        // One instance that could not start (a port in use) stops the others, and the command
        // exits 1: a cluster short of what was asked is not what the operator tries failover on.
        // Its own error names `ocr serve`'s port flags, which `ocr cluster` does not take.
        process.stderr.write(
          `ocr cluster: instance on port ${port} exited (${how}) before it listened; stopping the others. ` +
            'Its error is above: where it says --port or --http-port, give ocr cluster --base-port or --base-http-port\n',
        );
        stopAll();
        return;
      }
      // One that served and then went (killed to try failover, crashed) leaves the others serving,
      // as a cluster does: a kill -9 of one instance, to try failover, must not end the whole cluster.
      const left = children.filter(live).length;
      const next = left > 0 ? ' (Ctrl-C stops them)' : '';
      process.stderr.write(`ocr cluster: instance on port ${port} exited (${how}); ${left} still running${next}\n`);
    });
    children.push(child);
  }
  const exits = await Promise.all(codes);
  process.off('SIGINT', stopAll);
  process.off('SIGTERM', stopAll);
  process.off('SIGHUP', stopAll);
  return exits.every((c) => c === 0) ? 0 : 1;
}
