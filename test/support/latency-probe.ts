/**
 * Another caller, in a process of its own: it calls GetServerInfo on its own channel every 50 ms
 * and reports the slowest answer when told to stop. In its own process the figure is the server's,
 * not that of a test process busy sending an attack.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { OcrClient } from '../../src/client/index.js';

const SELF = fileURLToPath(import.meta.url);

export interface LatencyProbe {
  /** Stop probing; the slowest GetServerInfo seen, in ms. */
  stop(): Promise<number>;
}

export async function startLatencyProbe(target: string): Promise<LatencyProbe> {
  const child: ChildProcess = fork(SELF, [target], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await once(child, 'message');
  return {
    async stop() {
      child.send('stop');
      const [slowest] = (await once(child, 'message')) as [number];
      child.disconnect();
      return slowest;
    },
  };
}

async function probe(target: string): Promise<void> {
  const client = new OcrClient(target, { deadlineMs: 10_000, maxAttempts: 1 });
  await client.getServerInfo();
  let slowest = 0;
  let running = true;
  process.on('message', () => (running = false));
  process.send!('ready');
  while (running) {
    const started = performance.now();
    await client.getServerInfo();
    slowest = Math.max(slowest, performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  client.close();
  process.send!(slowest);
}

if (process.argv[1] === SELF && process.send) void probe(process.argv[2]!);
