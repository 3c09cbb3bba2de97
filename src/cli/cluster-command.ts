import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

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

/**
 * `ocr cluster`: N local `ocr serve` processes on consecutive ports, for trying the balancing and
 * failover of the SDK on one machine. Ctrl-C (or SIGTERM) stops them all cleanly: each drains, and
 * the command exits when the last one has.
 */
export async function clusterCommand(opts: ClusterOptions): Promise<number> {
  const workers = opts.workers ?? Math.max(1, Math.floor(os.availableParallelism() / opts.instances));
  const children: ChildProcess[] = [];
  let stopping = false;
  /** The first signal drains every instance; a second one is passed on, and ends them at once (stop-signals.ts). */
  const stopAll = (signal: NodeJS.Signals = 'SIGTERM'): void => {
    const live = children.filter((c) => c.exitCode === null && c.signalCode === null);
    if (stopping) {
      process.stderr.write(`ocr cluster: ${signal} again: ending ${live.length} instances now\n`);
      for (const child of live) child.kill(signal);
      return;
    }
    stopping = true;
    process.stderr.write(`ocr cluster: stopping ${live.length} instances\n`);
    for (const child of live) child.kill('SIGTERM');
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
      '--workers',
      String(workers),
      '--detector-threads',
      String(Math.min(2, workers)),
      '--log-level',
      opts.logLevel,
    ];
    if (opts.consul) args.push('--consul', opts.consul, '--service-name', opts.serviceName);
    // A process group of its own: Ctrl-C in a terminal reaches this command alone, which passes it
    // on once. Reached by it too, an instance would take stopAll's SIGTERM as a second signal and
    // end at once instead of draining.
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    child.stdout!.on('data', (chunk: Buffer) => process.stdout.write(`[${port}] ${chunk.toString()}`));
    child.once('exit', (code, signal) => {
      if (stopping) return;
      // One instance down (a port in use, a crash) stops the others: the command never leaves orphans.
      process.stderr.write(`ocr cluster: instance on port ${port} exited (${signal ?? code}); stopping the others\n`);
      stopAll();
    });
    children.push(child);
  }
  const codes = await Promise.all(children.map(async (c) => (c.exitCode ?? (await once(c, 'exit'))[0]) as number | null));
  process.off('SIGINT', stopAll);
  process.off('SIGTERM', stopAll);
  process.off('SIGHUP', stopAll);
  return codes.every((c) => c === 0) ? 0 : 1;
}
