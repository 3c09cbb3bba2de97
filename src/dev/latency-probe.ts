/**
 * Another caller, in a process of its own: it calls GetServerInfo on its own channel every 50 ms
 * and reports how long each took when told to stop. In its own process the figure is the server's,
 * not that of a process busy sending an attack. A call that fails (its 60 s deadline passed) counts
 * for the time it took.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { OcrCallError, OcrClient } from '../client/index.js';

const SELF = fileURLToPath(import.meta.url);

export interface ProbeReport {
  /** The slowest GetServerInfo, in ms. */
  slowestMs: number;
  /** Every GetServerInfo's time, in ms, in order. */
  latenciesMs: number[];
}

export interface LatencyProbe {
  stop(): Promise<ProbeReport>;
}

export async function startLatencyProbe(target: string): Promise<LatencyProbe> {
  const child: ChildProcess = fork(SELF, [target], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await once(child, 'message');
  return {
    async stop() {
      child.send('stop');
      const [latenciesMs] = (await once(child, 'message')) as [number[]];
      child.disconnect();
      return { slowestMs: Math.max(0, ...latenciesMs), latenciesMs };
    },
  };
}

async function probe(target: string): Promise<void> {
  const client = new OcrClient(target, { deadlineMs: 60_000, maxAttempts: 1 });
  await client.getServerInfo();
  const latencies: number[] = [];
  let running = true;
  process.on('message', () => (running = false));
  // Its parent killed (a test or bench stopped hard): without this it kept calling for good.
  process.once('disconnect', () => process.exit(0));
  process.send!('ready');
  while (running) {
    const started = performance.now();
    await client.getServerInfo().catch((err: unknown) => {
      if (!(err instanceof OcrCallError)) throw err;
    });
    latencies.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  client.close();
  process.send!(latencies);
}

if (process.argv[1] === SELF && process.send) void probe(process.argv[2]!);
