/** `consul://AGENT_HOST:PORT/SERVICE?tag=T&dc=D`, parsed; the client's only knowledge of Consul's names. */

export interface ConsulTarget {
  /** The agent's HTTP address, e.g. http://127.0.0.1:8500 (consul-agent.ts). */
  agent: string;
  service: string;
  tag?: string;
  dc?: string;
}

/** A service name a consul:// target can name; `ocr serve --service-name` takes no other. */
export const CONSUL_SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const CONSUL_SERVICE_NAME_RULE = 'letters, digits, "-", "_" and ".", starting with a letter or digit';

/**
 * From grpc-js's parsed URI path, "service?query", and the agent its authority names (consulAgent).
 * Throws with a message saying what a valid target looks like.
 */
export function parseConsulTarget(agent: string, path: string): ConsulTarget {
  const [name = '', query = ''] = path.replace(/^\/+/, '').split('?', 2);
  if (!CONSUL_SERVICE_NAME.test(name)) {
    throw new Error(`consul target needs a service name: consul://AGENT_HOST:PORT/SERVICE[?tag=T&dc=D], got path "${path}"`);
  }
  const params = new URLSearchParams(query);
  for (const key of params.keys()) {
    if (key !== 'tag' && key !== 'dc') throw new Error(`consul target: unknown parameter "${key}" (tag and dc are understood)`);
  }
  const target: ConsulTarget = { agent, service: name };
  const tag = params.get('tag');
  const dc = params.get('dc');
  if (tag) target.tag = tag;
  if (dc) target.dc = dc;
  return target;
}

/** How long Consul holds a blocking query open by default (its `wait`). */
const DEFAULT_WAIT_MS = 30_000;
/** The longest wait Consul honours: it answers a longer one after 10 minutes (plus its jitter). */
export const MAX_WAIT_MS = 600_000;

/**
 * The wait a watch asks of Consul, from channel option `ocr.consul_wait_ms`: a positive number of
 * ms, at most Consul's 10 minutes, else the default. Capped because the watch gives up a query
 * unanswered past its wait (plus a margin): an hour asked would have let a silent agent hold the
 * watch an hour, while Consul itself answers within ten minutes.
 */
export function blockingWaitMs(option: unknown): number {
  return typeof option === 'number' && option > 0 ? Math.min(MAX_WAIT_MS, Math.ceil(option)) : DEFAULT_WAIT_MS;
}

/** The blocking health query for the target's passing instances. */
export function healthQueryUrl(target: ConsulTarget, index: number, wait: string): string {
  const params = new URLSearchParams({ passing: 'true', index: String(index), wait });
  if (target.tag) params.set('tag', target.tag);
  if (target.dc) params.set('dc', target.dc);
  return `${target.agent}/v1/health/service/${encodeURIComponent(target.service)}?${params.toString()}`;
}

interface HealthEntry {
  Node?: { Address?: string };
  Service?: { Address?: string; Port?: number };
}

/**
 * Instance addresses from a health response: the service's address, else its node's; each once.
 * Two registrations of one address (the same instance registered through two agents, or one left
 * by an earlier process on its port) were two endpoints, and round_robin gave that instance twice
 * the calls of any other.
 */
export function instancesOf(body: unknown): { host: string; port: number }[] {
  if (!Array.isArray(body)) return [];
  const out = new Map<string, { host: string; port: number }>();
  for (const entry of body as HealthEntry[]) {
    const host = entry.Service?.Address || entry.Node?.Address;
    const port = entry.Service?.Port;
    if (host && typeof port === 'number' && port > 0) out.set(`${host}\0${port}`, { host, port });
  }
  return [...out.values()];
}

/**
 * The index to send next, as Consul's blocking-query rules prescribe: Consul's, at least 1 (an
 * index of 0, or none, sent back as 0 would ask without blocking: answered at once, again and
 * again), and 0, to start again, where it went backwards (agent restarted, state reset).
 */
export function nextIndex(previous: number, header: string | null): number {
  const given = Number(header);
  const index = Number.isFinite(given) && given >= 1 ? given : 1;
  return index < previous ? 0 : index;
}
