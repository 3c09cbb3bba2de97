/**
 * Registration of this instance in Consul, through the `consul` npm client: a service with a GRPC
 * check on the instance's own health service (and an HTTP check of its HTTP port's /healthz, when it
 * has one), kept registered while the server runs (registered again when the agent comes back
 * without it) and removed on shutdown. On a TLS instance both checks use TLS (GRPCUseTLS, https://),
 * verifying its certificate for a given name, or not at all, as configured.
 */

import https from 'node:https';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type ConsulClient from 'consul';
import type { EngineInfo } from '../engine/index.js';
import { isLoopback } from './exposure-warning.js';
import type { Logger } from './logger.js';
import { OCR_SERVICE } from '../shared/service-name.js';
import { hostPort } from '../shared/host-port.js';
import { ipv6Prefix } from '../shared/ipv6-prefix.js';
import { isWildcardHost } from '../shared/wildcard-host.js';

/** The gRPC health service name the check asks for: the OCR service itself, not just the process. */

export interface ConsulRegistrationOptions {
  /** The agent's HTTP address: "http://127.0.0.1:8500", "https://consul.local:8501" or "127.0.0.1:8500". */
  consulAddress: string;
  /** ACL token (X-Consul-Token); it needs service:write on serviceName. */
  token?: string;
  /** For an https agent: PEM CA to trust (CONSUL_CACERT), client certificate and key (CONSUL_CLIENT_CERT/KEY). */
  tls?: ConsulTls;
  serviceName: string;
  /** Unique per instance; also the instance_id in responses. */
  serviceId: string;
  /** Address clients and the agent's check dial; must be reachable from them. */
  advertiseHost: string;
  port: number;
  /** The HTTP front door's port on advertiseHost: checked too (GET /healthz). Unset: gRPC check only. */
  httpPort?: number;
  /**
   * The instance serves TLS: its checks use it. `serverName`: the name the agent verifies its
   * certificate for (default: the address dialled); `skipVerify`: no verification. Under mutual TLS
   * the agent also needs a client certificate: `enable_agent_tls_for_checks` (consul/README.md).
   */
  instanceTls?: { serverName?: string; skipVerify?: boolean };
  tags: string[];
  meta: Record<string, string>;
  checkInterval?: string;
  checkTimeout?: string;
  /** Consul removes the instance once its check has been critical this long (a crash, a lost host). */
  deregisterCriticalAfter?: string;
  logger: Logger;
  /** How often the agent is asked whether it still has this instance. */
  confirmEveryMs?: number;
  /** Pause after a failed registration; doubles on each failure up to retryMaxMs. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Bound on each request to the agent. */
  requestTimeoutMs?: number;
}

/** An https agent's TLS, as Consul's variables give it (CONSUL_CACERT, CONSUL_CLIENT_CERT/KEY, CONSUL_TLS_SERVER_NAME, CONSUL_HTTP_SSL_VERIFY). */
export interface ConsulTls {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
  rejectUnauthorized?: boolean;
}

export interface ConsulRegistration {
  readonly serviceId: string;
  /** Stops keeping the registration and removes it from the agent; one already gone, or never taken, counts as removed. */
  deregister(): Promise<void>;
}

export const REGISTRATION_DEFAULTS = {
  checkInterval: '2s',
  checkTimeout: '1s',
  deregisterCriticalAfter: '1m',
  confirmEveryMs: 10_000,
  retryMinMs: 500,
  retryMaxMs: 10_000,
  requestTimeoutMs: 5_000,
} as const;

export interface ConsulEndpoint {
  host: string;
  port: number;
  secure: boolean;
}

/** Parses an agent address as CONSUL_HTTP_ADDR takes it; without a port: 8500 (http) or 8501 (https). */
export function parseConsulAddress(address: string): ConsulEndpoint {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `http://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`not a Consul HTTP address: "${address}" (expected e.g. http://127.0.0.1:8500)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`unsupported Consul address scheme "${url.protocol}" in "${address}" (use http:// or https://)`);
  }
  const secure = url.protocol === 'https:';
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : secure ? 8501 : 8500,
    secure,
  };
}

/** Whether `address` is IPv6 link-local (fe80::/10): reached only on its own link, and only with its zone. */
const isLinkLocal = (address: string): boolean => ipv6Prefix(address, 10) === 'fe80::/10';

/**
 * The address to advertise for a listening host: itself, unless it is a wildcard; then this
 * machine's first external IPv4 address, or, listening on `::` where it has none (an IPv6-only
 * host), its first external IPv6 address that is not link-local: 127.0.0.1 was registered there,
 * which no other host reaches.
 */
export function advertiseHostFor(listenHost: string, interfaces = os.networkInterfaces()): string {
  if (!isWildcardHost(listenHost)) return listenHost;
  const external = Object.values(interfaces).flatMap((addresses) => (addresses ?? []).filter((a) => !a.internal));
  const ipv4 = external.find((a) => a.family === 'IPv4');
  const ipv6 = listenHost === '0.0.0.0' ? undefined : external.find((a) => a.family === 'IPv6' && !isLinkLocal(a.address));
  return ipv4?.address ?? ipv6?.address ?? '127.0.0.1';
}

/**
 * Why the address registered cannot work, or null: a loopback address registered with an agent
 * reached over the network, whose callers on other hosts (and whose checks, where the agent runs on
 * one) would dial themselves.
 */
export function unreachableAdvertisement(advertiseHost: string, consulAddress: string): string | null {
  if (!isLoopback(advertiseHost) || isLoopback(parseConsulAddress(consulAddress).host)) return null;
  return (
    `registering ${advertiseHost} with the Consul agent at ${consulAddress}: callers on other hosts, and the agent's checks ` +
    `if it runs on one, would dial ${advertiseHost}, themselves; listen where they reach this machine (--host 0.0.0.0) and ` +
    `register that address (--advertise-host)`
  );
}

/** A Consul service ID unique per instance: readable in the UI, a restart on the same port differs. */
export function consulServiceId(serviceName: string, advertiseHost: string, port: number): string {
  return `${serviceName}-${advertiseHost}-${port}-${randomBytes(3).toString('hex')}`;
}

/** Service Meta: what a caller may want to pick instances by (model versions) or see in the UI. */
export function instanceMeta(info: EngineInfo, serverVersion: string): Record<string, string> {
  const meta: Record<string, string> = { manifest: info.manifest, server_version: serverVersion };
  for (const model of info.models) meta[`${model.role}_version`] = model.version;
  return meta;
}

/** A service as the agent lists it (GET /v1/agent/services): what staleTwins compares. */
interface AgentServiceEntry {
  ID?: string;
  Service?: string;
  Address?: string;
  Port?: number;
}

/**
 * The IDs of the agent's other registrations of `service` at this instance's address and port:
 * left by an earlier process on this port that ended without deregistering (kill -9, a crash, an
 * OOM kill). Their checks dial this port, so they pass again once it serves and the agent never
 * reaps them: callers saw the address twice, and the entries' stale tags and Meta (a `?tag=` of
 * the old process reached the new one).
 */
export function staleTwins(
  services: Record<string, AgentServiceEntry>,
  own: { id: string; service: string; address: string; port: number },
): string[] {
  return Object.entries(services)
    .filter(([id, s]) => id !== own.id && s.Service === own.service && s.Address === own.address && s.Port === own.port)
    .map(([id]) => id);
}

/** A check as the agent lists it (GET /v1/agent/checks): what failingChecks reads. */
interface AgentCheckEntry {
  Name?: string;
  ServiceID?: string;
  Status?: string;
  Output?: string;
}

/**
 * What the agent wrote of each check of `serviceId` it has run and found critical ("name: output"):
 * each says what it dialled and why that failed. A check not yet run is critical with no output.
 */
export function failingChecks(checks: Record<string, AgentCheckEntry>, serviceId: string): string[] {
  return Object.values(checks)
    .filter((c) => c.ServiceID === serviceId && c.Status === 'critical' && c.Output)
    .map((c) => `${c.Name ?? 'check'}: ${c.Output}`);
}

/**
 * Whether a registration that failed may still have been taken: the agent was sent it and did not
 * answer (the request timed out, the connection was cut), rather than refusing it or the connection.
 */
function mayHaveLanded(err: unknown): boolean {
  const e = err as { isTimeout?: unknown; code?: unknown } | null;
  return e?.isTimeout === true || e?.code === 'ECONNRESET';
}

function statusCodeOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The longest answer of the agent quoted in a log line. */
const AGENT_SAID_MAX = 500;

/**
 * What the agent answered, in its own words where it gave some: the consul client keeps a text
 * answer under 80 characters alone, and Consul's ACL refusals are longer ("Permission denied: token
 * with AccessorID '…' lacks permission 'service:write' on \"ocr\""), so the log said "forbidden".
 */
function messageOf(err: unknown): string {
  const body = (err as { response?: { body?: unknown } } | null)?.response?.body;
  if (typeof body === 'string' && body.trim()) return body.trim().slice(0, AGENT_SAID_MAX);
  return err instanceof Error ? err.message : String(err);
}

/**
 * What to do about a refusal for the token (403), or null: the token needs service:write on the
 * service; one the agent does not know at all (Consul's "ACL not found": a typo, a token of another
 * cluster, one deleted) must first be replaced by one it knows.
 */
function tokenAdvice(status: number | undefined, said: string, tokenGiven: boolean, serviceName: string): string | null {
  if (status !== 403) return null;
  const permission = `service:write on "${serviceName}"`;
  if (tokenGiven && said.includes('ACL not found')) {
    return `the agent knows no such token (--consul-token or CONSUL_HTTP_TOKEN): give the SecretID of one of its tokens with ${permission}`;
  }
  return tokenGiven
    ? `the agent's ACLs refused the token (--consul-token or CONSUL_HTTP_TOKEN): give one with ${permission}`
    : `the agent's ACLs need a token: give one with ${permission} (--consul-token or CONSUL_HTTP_TOKEN)`;
}

/**
 * Starts registering the instance and returns at once: the server serves whether or not the agent
 * answers. A failed registration is retried with backoff; once registered, the agent is asked every
 * confirmEveryMs whether it still has the instance (an agent restarted without its data, or an
 * instance reaped while it was unreachable) and it is registered again when it has not.
 */
export function registerInstance(options: ConsulRegistrationOptions): ConsulRegistration {
  const o = { ...REGISTRATION_DEFAULTS, ...options };
  const endpoint = parseConsulAddress(o.consulAddress);
  // Loaded here, with the first registration: an instance without Consul does not load the client.
  const Consul = createRequire(import.meta.url)('consul') as typeof ConsulClient;
  const consul = new Consul({
    host: endpoint.host,
    port: endpoint.port,
    secure: endpoint.secure,
    ...(o.token ? { defaults: { token: o.token } } : {}),
    ...(endpoint.secure && o.tls ? { agent: new https.Agent({ keepAlive: true, ...o.tls }) } : {}),
  });
  const logger = o.logger.child({ component: 'consul', consul: o.consulAddress, serviceId: o.serviceId });
  const check = `${hostPort(o.advertiseHost, o.port)}/${OCR_SERVICE}`;
  const httpCheck =
    o.httpPort !== undefined ? `${o.instanceTls ? 'https' : 'http'}://${hostPort(o.advertiseHost, o.httpPort)}/healthz` : undefined;
  const common = {
    interval: o.checkInterval,
    timeout: o.checkTimeout,
    deregistercriticalserviceafter: o.deregisterCriticalAfter,
    ...(o.instanceTls?.serverName ? { tlsservername: o.instanceTls.serverName } : {}),
    ...(o.instanceTls?.skipVerify ? { tlsskipverify: true } : {}),
  };
  const registration = {
    id: o.serviceId,
    name: o.serviceName,
    address: o.advertiseHost,
    port: o.port,
    tags: o.tags,
    meta: o.meta,
    checks: [
      { name: `gRPC health of ${OCR_SERVICE}`, grpc: check, grpcusetls: o.instanceTls !== undefined, ...common },
      ...(httpCheck ? [{ name: 'HTTP /healthz', http: httpCheck, method: 'GET', ...common }] : []),
    ],
  };
  // `timeout` is the client's per-request bound; its typings leave it out.
  const request: { timeout: number; token?: string } = { timeout: o.requestTimeoutMs };

  let stopped = false;
  let registered = false;
  /**
   * Whether the agent may hold the registration: it took one, or one went unanswered (it may have
   * landed). One that never did has nothing to remove.
   */
  let mayBeRegistered = false;
  let failures = 0;
  let agentDown = false;
  /** Whether the log last said that another instance holds this one's ID. */
  let idTaken = false;
  /** Whether the log last said that the agent's checks of this instance fail. */
  let checksFailing = false;
  let timer: NodeJS.Timeout | undefined;
  /**
   * The registration request in flight, if any: the deregistration waits for it (one landing after
   * the deregistration would linger), and for nothing else the loop may be asking the agent, the
   * listing for stale twins that follows it included.
   */
  let registering: Promise<void> = Promise.resolve();

  const retryDelay = (): number => Math.min(o.retryMaxMs, o.retryMinMs * 2 ** Math.max(0, failures - 1));
  const schedule = (ms: number): void => {
    timer = setTimeout(() => void step(), ms);
    timer.unref(); // the gRPC server keeps the process alive, not this
  };

  /** Removes staleTwins once this instance is registered (never before: callers would find no entry meanwhile). */
  const removeStaleTwins = async (): Promise<void> => {
    try {
      const services = (await consul.agent.service.list(request)) as Record<string, AgentServiceEntry>;
      const own = { id: o.serviceId, service: o.serviceName, address: o.advertiseHost, port: o.port };
      for (const id of staleTwins(services, own)) {
        await consul.agent.service.deregister({ id, ...request });
        logger.warn({ stale: id }, 'removed a registration of this address and port left by a process that did not deregister');
      }
    } catch (err) {
      logger.warn(
        { err: messageOf(err), status: statusCodeOf(err) },
        'cannot remove registrations left at this address and port by an earlier process; remove them in Consul',
      );
    }
  };

  const register = async (): Promise<void> => {
    if (stopped) return;
    const attempt = attemptRegistration();
    registering = attempt.then(() => undefined);
    // Not waited for by the deregistration: another request to an agent that may be slow, and what
    // it removes is no registration of this process's.
    if ((await attempt) && !stopped) await removeStaleTwins();
  };

  /** One registration request; resolves with whether the agent took it, never rejects. */
  const attemptRegistration = async (): Promise<boolean> => {
    try {
      await consul.agent.service.register({ ...registration, ...request });
      registered = true;
      mayBeRegistered = true;
      if (failures > 0) logger.info({ attempts: failures + 1 }, 'registered in Consul after retrying');
      else logger.info({ check, httpCheck, tls: o.instanceTls !== undefined, tags: o.tags, meta: o.meta }, 'registered in Consul');
      failures = 0;
      return true;
    } catch (err) {
      failures += 1;
      if (mayHaveLanded(err)) mayBeRegistered = true;
      const status = statusCodeOf(err);
      const said = messageOf(err);
      const advice = tokenAdvice(status, said, o.token !== undefined, o.serviceName);
      const fields = { err: said, status, ...(advice ? { advice } : {}), attempt: failures, retryInMs: retryDelay() };
      // One error per streak: a long outage would otherwise fill the log.
      if (failures === 1) logger.error(fields, 'cannot register in Consul; serving anyway and retrying');
      else logger.warn(fields, 'still cannot register in Consul');
      return false;
    }
  };

  /**
   * Says once when the agent's checks of this instance start failing, and once when they pass
   * again: an instance registered at an address the agent cannot reach (a wrong --advertise-host or
   * --advertise-port, a firewall) serves, yet no caller that finds instances through Consul is sent
   * to it, and only the agent knew why.
   */
  const reportChecks = (failing: string[]): void => {
    if (failing.length > 0 && !checksFailing) {
      logger.error(
        { checks: failing },
        "Consul's checks of this instance fail, so its callers through Consul are not sent here: check that the agent " +
          'reaches the address and ports registered (--advertise-host, --advertise-port, --advertise-http-port)',
      );
    } else if (failing.length === 0 && checksFailing) {
      logger.info("Consul's checks of this instance pass again");
    }
    checksFailing = failing.length > 0;
  };

  /**
   * Says once when the agent's entry under this instance's ID is another process's: a second
   * instance given the same --instance-id replaced this one's registration, and Consul's callers
   * are no longer sent here. Not registered again: the two would take the ID from each other.
   */
  const reportTakenId = (entry: AgentServiceEntry): void => {
    const taken = entry.Address !== o.advertiseHost || entry.Port !== o.port;
    if (taken && !idTaken) {
      logger.error(
        { registeredAt: hostPort(entry.Address ?? '', entry.Port ?? 0), advertised: hostPort(o.advertiseHost, o.port) },
        'another instance registered in Consul under this instance ID, replacing this one, which its callers through Consul ' +
          'no longer reach: give each instance its own --instance-id, or leave it out (SERVICE-HOST-PORT-RANDOM)',
      );
    }
    idTaken = taken;
  };

  const confirm = async (): Promise<void> => {
    try {
      const services = (await consul.agent.service.list(request)) as Record<string, AgentServiceEntry>;
      if (stopped) return; // deregistered meanwhile: nothing to report or register again
      if (agentDown) logger.info('Consul agent reachable again');
      agentDown = false;
      const entry = services[o.serviceId];
      if (!entry) {
        logger.warn('the Consul agent no longer has this instance; registering it again');
        registered = false;
        await register();
        return;
      }
      reportTakenId(entry);
      const checks = (await consul.agent.check.list(request)) as Record<string, AgentCheckEntry>;
      if (!stopped) reportChecks(failingChecks(checks, o.serviceId));
    } catch (err) {
      if (stopped) return; // cut by the deregistration's end (consul.destroy)
      if (!agentDown)
        logger.warn({ err: messageOf(err) }, 'Consul agent unreachable; will register again if it comes back without this instance');
      agentDown = true;
    }
  };

  const step = async (): Promise<void> => {
    if (stopped) return;
    if (registered) await confirm();
    else await register();
    if (stopped) return;
    schedule(registered ? o.confirmEveryMs : retryDelay());
  };

  void step();

  return {
    serviceId: o.serviceId,
    async deregister() {
      stopped = true;
      clearTimeout(timer);
      await registering; // never rejects
      if (!mayBeRegistered) {
        logger.info('never registered in Consul: nothing to deregister');
        consul.destroy();
        return;
      }
      try {
        await consul.agent.service.deregister({ id: o.serviceId, ...request });
        logger.info('deregistered from Consul');
      } catch (err) {
        const status = statusCodeOf(err);
        if (status === 404) return;
        const said = messageOf(err);
        const advice = tokenAdvice(status, said, o.token !== undefined, o.serviceName);
        throw new Error(advice ? `${said}: ${advice}` : said, { cause: err });
      } finally {
        consul.destroy();
      }
    },
  };
}
