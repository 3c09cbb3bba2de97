/**
 * One `ocr serve` with its default flags for a hostile-load benchmark, warmed as the hostile-load
 * test does: every worker's sessions have run on a development page (and on `alsoWarm`, if given),
 * so that what the benchmark then measures is its load, not the first passes. Killed when this
 * process exits.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OcrClient } from '../client/index.js';
import { EVAL_DEV } from './repo-paths.js';
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
}

export async function startWarmServer(alsoWarm: Buffer[] = []): Promise<WarmServer> {
  const server = await spawnServer();
  process.on('exit', () => server.child.kill('SIGKILL'));
  const target = `127.0.0.1:${server.port}`;
  const client = new OcrClient(target, { deadlineMs: 600_000, maxAttempts: 1 });
  const page = readFileSync(path.join(EVAL_DEV, 'docs', 'd001_invoice.jpg'));
  for (const warm of [page, ...alsoWarm]) await Promise.all([1, 2, 3, 4].map(() => client.recognize(warm)));
  return { server, pid: server.child.pid!, target, client, page };
}
