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
  /** Its resident memory at rest once warm (warmToLevel): the level before the load. */
  level: number;
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
 * Calls at once in each batch of the warm-up: enough that every worker has a queue, so that each of
 * their sessions runs the page, not only those of the first worker free (a page's detection that
 * finds the other worker idle and nothing waiting runs alone, on the wide worker's session).
 */
const AT_ONCE = 8;

/**
 * Runs every session of every worker of the server behind `client` on `page` and on a square page,
 * and the recognizer on a line image of its own. Calls at once keep every worker busy; a call alone
 * runs on the wide worker's detector session with more threads (worker-pool.ts), whose arena is its
 * own: warmed by calls at once only, a server's level leaves that arena out, and the first call
 * alone after it adds it (docs/RESOURCES.md, "Memory after a burst").
 */
export async function warmSessions(client: OcrClient, page: Buffer): Promise<void> {
  // The development page last: the admission's estimates learn from every call, and a blank page
  // costs less per pixel than a page of text, so a warm-up that ended on blank pages left them low
  // (calls admitted beyond what the workers could answer in time, in the hostile-load test).
  for (const image of [await squarePage(), page]) {
    await Promise.all(Array.from({ length: AT_ONCE }, () => client.recognize(image)));
    await client.recognize(image);
  }
  await client.recognizeLines([readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'))]);
}

/**
 * A round of the warm-up that raised the level at rest by less than this warmed no cold session: one
 * adds 0.09-0.18 GB, while rounds on warm sessions still add up to about 35 MB (glibc's arenas).
 */
const LEVEL_HELD_BYTES = 64e6;

/** Rounds of the warm-up after which a level still rising is a leak, not a cold session. */
const MAX_WARM_ROUNDS = 4;

/** Whether the levels at rest after each round of the warm-up, in order, show the last round warmed nothing new. */
export function levelHeld(levels: readonly number[]): boolean {
  return levels.length >= 2 && levels[levels.length - 1]! - levels[levels.length - 2]! < LEVEL_HELD_BYTES;
}

/** A server's level at rest once warm, and the levels after each round of the warm-up that led to it. */
export interface WarmLevel {
  level: number;
  rounds: number[];
}

/** Levels in MB, for a message. */
export const levelsMb = (levels: readonly number[]): string => levels.map((l) => (l / 1e6).toFixed(0)).join(', ');

/**
 * Warms `server` (warmSessions) round after round until its level at rest holds, and returns that
 * level: the level before a hostile load. Which session a task runs on depends on timing, and a
 * level read with one of them cold was 0.17 GB low (0.68 GB against 0.85 GB), which the load then
 * counted against itself (docs/BENCHMARKS.md, "The level held before it is read").
 */
export async function warmToLevel(server: ServerProcess, client: OcrClient, page: Buffer): Promise<WarmLevel> {
  const rounds: number[] = [];
  while (!levelHeld(rounds)) {
    if (rounds.length === MAX_WARM_ROUNDS) {
      throw new Error(
        `the server's level at rest still rose after ${MAX_WARM_ROUNDS} rounds of warm-up (${levelsMb(rounds)} MB): memory is kept that should not be`,
      );
    }
    await warmSessions(client, page);
    await atRest(server.httpPort!);
    rounds.push(residentBytes(server.child.pid!));
  }
  return { level: rounds[rounds.length - 1]!, rounds };
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
  const { level } = await warmToLevel(server, client, page);
  return { server, pid: server.child.pid!, target, client, page, startedBytes, level };
}
