/**
 * The Consul agent tests talk to: a real one when CONSUL_HTTP_ADDR is set (token from
 * CONSUL_HTTP_TOKEN), else a dev agent of the `consul` binary when it is on PATH, else a ConsulDouble
 * on a free loopback port. Plus a small typed HTTP client for
 * the endpoints tests read, so the same assertions run against both.
 */

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { ConsulDouble, type AgentService, type HealthServiceEntry } from './consul-double.js';
import { freePort } from '../../src/dev/free-port.js';
import { waitFor } from '../../src/dev/wait-for.js';

export type { AgentService, HealthServiceEntry } from './consul-double.js';

export interface TestConsul {
  /** Base address with its scheme, e.g. "http://127.0.0.1:8500". */
  address: string;
  /** Only on the double: the agent goes down (state kept) and comes back on the same port. */
  stop?(): Promise<void>;
  start?(): Promise<void>;
  close(): Promise<void>;
  real: boolean;
}

/** The `consul` binary on PATH, if any. */
function consulOnPath(): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, 'consul');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** Whether tests run against a real agent (CONSUL_HTTP_ADDR set, or `consul` on PATH) rather than the double. */
export function usingRealAgent(): boolean {
  return Boolean(process.env.CONSUL_HTTP_ADDR) || consulOnPath() !== null;
}

/** A throwaway dev agent of the `consul` binary on loopback ports of its own, ready once it has a leader. */
async function startDevAgent(binary: string): Promise<TestConsul> {
  const [http, server, lan, wan] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const agent = spawn(
    binary,
    [
      'agent',
      '-dev',
      '-bind',
      '127.0.0.1',
      '-client',
      '127.0.0.1',
      '-http-port',
      String(http),
      '-server-port',
      String(server),
      '-serf-lan-port',
      String(lan),
      '-serf-wan-port',
      String(wan),
      '-dns-port',
      '-1',
      '-grpc-port',
      '-1',
    ],
    { stdio: 'ignore' },
  );
  const address = `http://127.0.0.1:${http}`;
  await waitFor(
    async () => (await consulRequest<string>(address, '/v1/status/leader')).body !== '',
    30_000,
    'the consul dev agent to elect itself',
  );
  return {
    address,
    real: true,
    close: async () => {
      if (agent.exitCode !== null) return;
      agent.kill('SIGTERM');
      await once(agent, 'exit');
    },
  };
}

/** Why outage tests skip on a real agent. */
export const REAL_AGENT_CANNOT_STOP = 'the tests cannot stop and restart a real agent';

/** `it` with the double; on a real agent, `it.skip` with the reason in the title, so the report says why. */
export function itWithDouble(reason: string): (title: string, fn: Mocha.AsyncFunc) => Mocha.Test {
  return usingRealAgent() ? (title, fn) => it.skip(`${title} [skipped on a real agent: ${reason}]`, fn) : (title, fn) => it(title, fn);
}

function withScheme(address: string): string {
  return /^https?:\/\//i.test(address) ? address.replace(/\/+$/, '') : `http://${address.replace(/\/+$/, '')}`;
}

export async function consulForTests(): Promise<TestConsul> {
  const real = process.env.CONSUL_HTTP_ADDR;
  if (real) return { address: withScheme(real), real: true, close: async () => {} };
  const binary = consulOnPath();
  if (binary) return startDevAgent(binary);
  const double = new ConsulDouble();
  const { address, port } = await double.start();
  return {
    address,
    real: false,
    stop: () => double.stop(),
    start: async () => void (await double.start(port)),
    close: () => double.close(),
  };
}

export interface ConsulReply<T> {
  status: number;
  /** X-Consul-Index, where the endpoint sends one. */
  index: number | null;
  body: T;
  text: string;
}

/** One HTTP call to the agent (with CONSUL_HTTP_TOKEN when set); the body is parsed when it is JSON. */
export async function consulRequest<T = unknown>(
  address: string,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<ConsulReply<T>> {
  const headers: Record<string, string> = {};
  const token = process.env.CONSUL_HTTP_TOKEN;
  if (token) headers['x-consul-token'] = token;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${address}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  const index = res.headers.get('x-consul-index');
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') body = JSON.parse(text);
  return { status: res.status, index: index === null ? null : Number(index), body: body as T, text };
}

/** `GET /v1/health/service/:name` with the given query ("passing", "index=3&wait=1s"). */
export async function healthService(address: string, name: string, query = ''): Promise<ConsulReply<HealthServiceEntry[]>> {
  const reply = await consulRequest<HealthServiceEntry[]>(
    address,
    `/v1/health/service/${encodeURIComponent(name)}${query ? `?${query}` : ''}`,
  );
  if (reply.status !== 200) throw new Error(`health/service/${name}: ${reply.status} ${reply.text}`);
  return reply;
}

/** `GET /v1/agent/services`: the agent's services by ID. */
export async function agentServices(address: string): Promise<Record<string, AgentService>> {
  const reply = await consulRequest<Record<string, AgentService>>(address, '/v1/agent/services');
  if (reply.status !== 200) throw new Error(`agent/services: ${reply.status} ${reply.text}`);
  return reply.body;
}

export async function deregisterService(address: string, id: string): Promise<number> {
  return (await consulRequest(address, `/v1/agent/service/deregister/${encodeURIComponent(id)}`, { method: 'PUT' })).status;
}
