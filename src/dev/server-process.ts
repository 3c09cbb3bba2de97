import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI, ROOT } from './repo-paths.js';

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** The HTTP front door's port (spawned servers take a free one unless args say otherwise). */
  httpPort?: number;
  instanceId: string;
  /** Its line on stdout that says where it listens. */
  listening: string;
  /** What it has written to stderr so far (its JSON log lines). */
  stderr(): string;
}

/** The environment of a spawned server: without CONSUL_HTTP_ADDR, so only a test that asks (--consul) registers. */
function serverEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CONSUL_HTTP_ADDR;
  return env;
}

/**
 * `ocr <args>` as a child process; resolves with the first match of `listening` in what it prints
 * (no sleeps), and rejects with its stderr if it exits before.
 */
async function spawnListening(
  args: string[],
  listening: RegExp,
  env?: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; match: RegExpExecArray; stderr: () => string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, ...(env ? { env } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = listening.exec(out);
      if (m) resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`ocr ${args[0]!} exited with ${code} before listening: ${stderr}`)));
  });
  return { child, match, stderr: () => stderr };
}

/** `ocr serve` as a child process; resolves when it prints its listening line. */
export async function spawnServer(args: string[] = []): Promise<ServerProcess> {
  // Several servers run side by side in tests: each takes a free HTTP port unless told otherwise.
  const http = args.some((a) => a === '--http-port' || a === '--no-http') ? [] : ['--http-port', '0'];
  // Tests and benchmarks send the same images again and again to measure the work: spawned servers
  // compute every call unless args ask for a result cache.
  const cache = args.includes('--cache') ? [] : ['--cache', 'off'];
  const { child, match, stderr } = await spawnListening(
    ['serve', '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn', ...http, ...cache, ...args],
    /listening on [^\s]+:(\d+) instance (\S+)(?: http [^\s]+:(\d+))?/,
    serverEnv(),
  );
  return {
    child,
    port: Number(match[1]),
    ...(match[3] ? { httpPort: Number(match[3]) } : {}),
    instanceId: match[2]!,
    listening: match[0],
    stderr,
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `env`: the child's whole environment; unset: this process's. */
export async function runCli(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, ...(env ? { env } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  /** What it has written to stderr so far (its JSON log lines). */
  stderr(): string;
}

/** `ocr gateway` as a child process on a free port, with `args` (its --target among them); resolves when it prints its listening line. */
export async function spawnGateway(args: string[]): Promise<GatewayProcess> {
  const { child, match, stderr } = await spawnListening(
    ['gateway', '--http-port', '0', '--log-level', 'warn', ...args],
    /listening on (https?:\/\/\S+) /,
  );
  return { child, url: match[1]!, stderr };
}
