/**
 * One `ocr serve` with its default flags for a hostile-load benchmark, warmed as the hostile-load
 * test's is, as a server in service is: every session of every worker has run on a development page
 * and on a square one, so that what the benchmark then measures is its load, not the first passes,
 * and the level of memory it starts from is that of a server in ordinary service, at rest. Killed
 * when this process exits.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OcrClient } from '../client/index.js';
import { loadSharp } from '../shared/load-sharp.js';
import { atRest } from './at-rest.js';
import { EVAL_DEV } from './repo-paths.js';
import { residentBytes } from './resident-memory.js';
import { spawnServer, type ServerProcess } from './server-process.js';

export interface WarmServer {
  server: ServerProcess;
  pid: number;
  /** host:port of its gRPC port. */
  target: string;
  /** A client on it: no deadline to speak of, no retries. */
  client: OcrClient;
  /** The development page it was warmed with, for a good call after the load. */
  page: Buffer;
  /** Its resident memory once it had started, before any call. */
  startedBytes: number;
}

/**
 * A blank 1920×1920 page: the detector's largest input at the default max_side_len (960×960). Each
 * session's arena keeps the activations of the largest input it has run, so a server in service has
 * them at this size.
 */
async function squarePage(): Promise<Buffer> {
  const sharp = await loadSharp();
  return sharp({ create: { width: 1920, height: 1920, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
}

/**
 * Runs every session of every worker of the server behind `client` on `page` and on a square page,
 * and the recognizer on a line image of its own. Calls at once keep every worker busy; a call alone
 * runs on the wide worker's detector session with more threads (worker-pool.ts), whose arena is its
 * own: warmed by calls at once only, a server's level leaves that arena out, and the first call
 * alone after it adds it (docs/RESOURCES.md, "Memory after a burst").
 */
export async function warmSessions(client: OcrClient, page: Buffer): Promise<void> {
  for (const image of [page, await squarePage()]) {
    await Promise.all([1, 2, 3, 4].map(() => client.recognize(image)));
    await client.recognize(image);
  }
  await client.recognizeLines([readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'))]);
}

export async function startWarmServer(): Promise<WarmServer> {
  const server = await spawnServer();
  process.on('exit', () => server.child.kill('SIGKILL'));
  const startedBytes = residentBytes(server.child.pid!);
  const target = `127.0.0.1:${server.port}`;
  // No keepalive pings: a burst's encoding blocks this process's event loop for seconds, and a
  // ping's timeout would then drop the healthy connection being measured (src/client/keepalive.ts).
  const client = new OcrClient(target, { deadlineMs: 600_000, maxAttempts: 1, keepaliveTimeMs: Infinity });
  const page = readFileSync(path.join(EVAL_DEV, 'docs', 'd001_invoice.jpg'));
  await warmSessions(client, page);
  await atRest(server.httpPort!);
  return { server, pid: server.child.pid!, target, client, page, startedBytes };
}
