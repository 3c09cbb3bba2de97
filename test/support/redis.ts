import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/dev/free-port.js';

export interface RedisProcess {
  port: number;
  url: string;
  child: ChildProcess;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
}

/** Throws, saying how to install it, when redis-server is not on the PATH. */
export function requireRedisServer(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'redis-server is not installed, and the result cache tests need a real one: apt-get install -y redis-server ' +
        `(.ci/run installs it when missing)${probe.error ? ` [${probe.error.message}]` : ''}`,
    );
  }
}

/**
 * A throwaway redis-server on loopback (`port`, or a free one): nothing saved, and what a replica
 * writes on a full sync (its dump.rdb) in a folder of its own, removed with it. With `tls`
 * (PEM files), that port speaks TLS only, to clients without certificates. Resolves once it
 * accepts connections.
 */
export async function startRedis(port?: number, tls?: { cert: string; key: string }): Promise<RedisProcess> {
  requireRedisServer();
  const p = port ?? (await freePort());
  const listen = tls
    ? ['--port', '0', '--tls-port', String(p), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-auth-clients', 'no']
    : ['--port', String(p)];
  const dir = mkdtempSync(path.join(tmpdir(), 'ocr-redis-'));
  const child = spawn('redis-server', [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        child.stdout!.off('data', onData);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`redis-server exited with ${code} before it was ready: ${out}`));
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    port: p,
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${p}`,
    child,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}
