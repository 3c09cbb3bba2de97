/**
 * The calls of a burst of large uploads, in a process of their own: `calls` concurrent Recognize
 * calls of a `bytes`-byte image (burst-image.ts) on one channel, without deadlines. Each call's
 * request is some 2 × `bytes` of buffers in its sender (the encoded message and grpc-js's framed
 * copy): a hundred 30 MB calls sent from a test's own process left it about 6 GB for its garbage
 * collector, whose release, seconds later, took the CPU of a two-core machine from the server under
 * the next test (a burst on a fresh instance then ended calls late). This process takes its memory
 * with it when it exits, before sendBurst settles.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { OcrCallError, OcrClient } from '../client/index.js';
import { burstImage } from './burst-image.js';

const SELF = fileURLToPath(import.meta.url);

/** How one call of the burst ended. */
export interface BurstOutcome {
  code: string;
  details: string;
}

/** Send the burst from a child process; settles with each call's outcome once that process has exited. */
export async function sendBurst(target: string, calls: number, bytes: number): Promise<BurstOutcome[]> {
  const child = fork(SELF, [target, String(calls), String(bytes)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let outcomes: BurstOutcome[] | undefined;
  child.once('message', (message) => (outcomes = message as BurstOutcome[]));
  // 'close' comes after the IPC channel has delivered everything, 'exit' possibly before.
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0 || !outcomes) throw new Error(`the burst's caller exited with ${code} without reporting its calls`);
  return outcomes;
}

async function burst(target: string, calls: number, bytes: number): Promise<void> {
  const { image } = await burstImage(bytes);
  // No keepalive pings: encoding the requests blocks this process's event loop for seconds, and a
  // ping's timeout would then drop the healthy connection (keepalive.ts).
  const client = new OcrClient(target, { deadlineMs: 120_000, maxAttempts: 1, keepaliveTimeMs: Infinity });
  const outcomes = await Promise.all(
    Array.from({ length: calls }, () =>
      client.recognize(image).then(
        (): BurstOutcome => ({ code: 'OK', details: '' }),
        (err: unknown): BurstOutcome => {
          if (!(err instanceof OcrCallError)) throw err;
          return { code: err.code, details: err.details };
        },
      ),
    ),
  );
  client.close();
  process.send!(outcomes, () => process.disconnect());
}

if (process.argv[1] === SELF && process.send) void burst(process.argv[2]!, Number(process.argv[3]), Number(process.argv[4]));
