/**
 * A Consul agent stand-in for tests (test code only: the product never imports it), speaking the
 * parts of Consul's documented HTTP API that the product relies on, over real HTTP on loopback:
 *
 * - `PUT /v1/agent/service/register` (ID, Name, Address, Port, Tags, Meta, Check or Checks; keys
 *   matched case-insensitively, snake_case too, as Consul's decoder does; a wildcard Address,
 *   0.0.0.0, :: or [::], refused 400 "Invalid service address" as Consul's ipaddr.IsAny refuses
 *   it); registering an existing ID replaces the service, and a check that keeps its ID keeps its
 *   status. `PUT /v1/agent/service/deregister/:id` (404 for an unknown ID). `GET
 *   /v1/agent/services`, `GET /v1/agent/service/:id`, `GET /v1/agent/checks`.
 * - Checks start critical (or at their `Status`). GRPC checks ("host:port[/service]") call
 *   grpc.health.v1.Health/Check with a real grpc-js client, a fresh connection each time as Consul
 *   does, with `Timeout` (default 10s) as the deadline: SERVING is passing, anything else critical.
 *   HTTP checks make the request (`Method`, default GET; `Header`) with the same timeout: 2xx is
 *   passing, 429 warning, anything else or no answer critical; `Output` as Consul writes it.
 *   Intervals under 1s are raised to 1s, as Consul does. As in Consul, the first run comes after a
 *   random pause in [0, Interval), then every Interval after the previous run ended.
 * - TLS of checks (`GRPCUseTLS`, an https:// `HTTP`) as Consul's OutgoingTLSConfigForCheck sets it
 *   up: `TLSServerName` is the name the instance's certificate is verified for and sent as SNI (unset:
 *   the address dialled), `TLSSkipVerify` verifies nothing. Without `checkTls` (the agent's
 *   `enable_agent_tls_for_checks` off) checks trust Node's built-in roots and show no certificate;
 *   with it, they trust its `ca` and show its `cert` and `key`, as an agent with
 *   `enable_agent_tls_for_checks = true` does with its own `tls` files: what a check of an instance
 *   that requires client certificates (mutual TLS) needs.
 * - `DeregisterCriticalServiceAfter`: the service of a check critical for longer is removed.
 * - `GET /v1/health/service/:name`: `passing` (every check of the entry passing, the node's
 *   `serfHealth` included), `tag` (repeatable: all must match), the name and tags matched whatever
 *   their letter case, as Consul matches them; `dc` (ours, "dc1", or 500 "No path
 *   to datacenter"); `stale`, `consistent`, `cached`, `near` accepted and ignored. Blocking queries:
 *   `index` and `wait` (Go duration, default 5m, at most 10m); the answer comes as soon as the
 *   service's index passes `index`, or after `wait` with the same index. One raft-like index grows on
 *   every change (register, deregister, check status change); a service name's index is the global
 *   index of its last change, and is what `X-Consul-Index` carries for it (never 0).
 * - `GET /v1/status/leader` answers "127.0.0.1:8300".
 *
 * `stop()` is an agent going down with its data dir kept: connections are cut and checks stop; a
 * later `start(samePort)` restores the services with every check critical again (Consul's
 * `loadChecks` does the same, so that nothing unchecked is offered) until the checks run. With
 * `dev`, an agent of `consul agent -dev`, which keeps nothing: it comes back without the services
 * registered through its API, its index counting again from the start.
 *
 * Deviations from a real agent, all to keep tests fast and self-contained:
 * - DeregisterCriticalServiceAfter: Consul enforces a 1 minute minimum and reaps on a ~30 s cycle;
 *   the double takes any value and reaps as soon as the time is up.
 * - Blocking queries get no random extra wait (Consul adds up to wait/16).
 * - ACLs: off unless `aclWriteToken` is set; then registering and deregistering need that token
 *   (`X-Consul-Token` or `?token=`) and are refused 403 in Consul's words otherwise: "Permission
 *   denied" for no token or `aclReadToken`, "ACL not found" for a token the agent does not know (on
 *   every endpoint, as Consul refuses one); reads need no token.
 * - One node, one datacenter; only GRPC and HTTP checks (other kinds are refused with 400); no `filter`
 *   expressions (400), no hash-based blocking, no anti-entropy delay: a change is visible at once.
 */

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { credentials, loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { parseGoDuration } from './go-duration.js';

export type CheckStatus = 'passing' | 'warning' | 'critical';

/** One entry of `GET /v1/health/service/:name`, as Consul documents it (fields the tests read). */
export interface HealthServiceEntry {
  Node: {
    ID: string;
    Node: string;
    Address: string;
    Datacenter: string;
    TaggedAddresses: Record<string, string>;
    Meta: Record<string, string>;
  };
  Service: AgentService;
  Checks: HealthCheck[];
}

export interface AgentService {
  ID: string;
  Service: string;
  Tags: string[];
  Address: string;
  Port: number;
  Meta: Record<string, string>;
  Weights: { Passing: number; Warning: number };
  EnableTagOverride: boolean;
  Datacenter: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface HealthCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  Interval: string;
  Timeout: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface ConsulDoubleOptions {
  /** Node name in answers (Consul: the host name). */
  node?: string;
  datacenter?: string;
  /**
   * The agent's `enable_agent_tls_for_checks = true` with its `tls` files (PEM): TLS checks trust
   * `ca` instead of the built-in roots and present `cert` and `key` as their client certificate.
   */
  checkTls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  /** The agent's HTTP API over HTTPS only (`ports { http = -1, https = … }`), with this certificate (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** ACLs with default deny, for writes alone: the one token with service:write on every service. */
  aclWriteToken?: string;
  /** With aclWriteToken: a token the agent knows that may read but not write. */
  aclReadToken?: string;
  /** An agent of `consul agent -dev`: stop() forgets every service, and the index starts again. */
  dev?: boolean;
}

/** The endpoints whose answers a test may hold back: registering, and listing the agent's services. */
export type HeldEndpoint = 'register' | 'services';

/** Answers of one endpoint held back (ConsulDouble.holdAnswers). */
interface AnswerHold {
  arrive(what: string): void;
  held: (() => void)[];
}

interface CheckState {
  id: string;
  name: string;
  notes: string;
  kind: 'grpc' | 'http';
  /** GRPC: "host:port" and the health service name asked for ("" = the whole server). */
  grpcTarget: string;
  grpcService: string;
  grpcDefinition: string;
  grpcUseTls: boolean;
  /** HTTP: the URL, method and headers. */
  httpUrl: string;
  httpMethod: string;
  httpHeaders: Record<string, string[]>;
  /** TLS of either kind: the name verified (""= the host dialled), or no verification. */
  tlsServerName: string;
  tlsSkipVerify: boolean;
  intervalMs: number;
  intervalText: string;
  timeoutMs: number;
  timeoutText: string;
  deregisterAfterMs: number | null;
  status: CheckStatus;
  output: string;
  /** When the check last turned critical (ms since the epoch); null while not critical. */
  criticalSince: number | null;
  createIndex: number;
  modifyIndex: number;
  runTimer?: NodeJS.Timeout;
  reapTimer?: NodeJS.Timeout;
  /** Bumped whenever the check is (re)scheduled or dropped, so a probe in flight can tell it is stale. */
  generation: number;
}

interface ServiceState {
  id: string;
  name: string;
  tags: string[];
  address: string;
  port: number;
  meta: Record<string, string>;
  createIndex: number;
  modifyIndex: number;
  checks: CheckState[];
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MIN_CHECK_INTERVAL_MS = 1000;
const DEFAULT_CHECK_TIMEOUT_MS = 10_000;
const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;
const META_KEY = /^[a-zA-Z0-9_-]+$/;

interface HealthCheckReply {
  status: string;
}
type HealthClient = InstanceType<ServiceClientConstructor> & {
  check(
    request: { service: string },
    options: { deadline: number },
    callback: (err: ServiceError | null, reply?: HealthCheckReply) => void,
  ): void;
};

type CheckTls = NonNullable<ConsulDoubleOptions['checkTls']>;
const pem = (v: string | Buffer | undefined): Buffer | null => (v === undefined ? null : Buffer.from(v));

let healthClientConstructor: ServiceClientConstructor | undefined;
function healthClient(check: CheckState, agentTls: CheckTls | undefined): HealthClient {
  if (!healthClientConstructor) {
    const pkg = loadPackageDefinition(loadSync(healthProtoPath, { enums: String }));
    healthClientConstructor = (((pkg.grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject).Health as ServiceClientConstructor;
  }
  const creds = check.grpcUseTls
    ? credentials.createSsl(pem(agentTls?.ca), pem(agentTls?.key), pem(agentTls?.cert), { rejectUnauthorized: !check.tlsSkipVerify })
    : credentials.createInsecure();
  // A pool of its own: each check dials afresh, as Consul's does, instead of inheriting a shared
  // subchannel's reconnect backoff from the last failure.
  return new healthClientConstructor(check.grpcTarget, creds, {
    'grpc.use_local_subchannel_pool': 1,
    ...(check.grpcUseTls && check.tlsServerName ? { 'grpc.ssl_target_name_override': check.tlsServerName } : {}),
  }) as HealthClient;
}

/** Consul's HTTP check: one request, its status judged as Consul judges it, its Output as Consul writes it. */
function httpProbe(check: CheckState, agentTls: CheckTls | undefined): Promise<[CheckStatus, string]> {
  const url = new URL(check.httpUrl);
  const secure = url.protocol === 'https:';
  const headers: Record<string, string[]> = {
    'User-Agent': ['Consul Health Check'],
    Accept: ['text/plain, text/*, */*'],
    ...check.httpHeaders,
  };
  const what = `HTTP ${check.httpMethod} ${check.httpUrl}`;
  return new Promise((resolve) => {
    const options: https.RequestOptions = {
      method: check.httpMethod,
      headers,
      timeout: check.timeoutMs,
      agent: false,
      ...(secure
        ? {
            rejectUnauthorized: !check.tlsSkipVerify,
            ...(agentTls?.ca ? { ca: agentTls.ca } : {}),
            ...(agentTls?.cert ? { cert: agentTls.cert } : {}),
            ...(agentTls?.key ? { key: agentTls.key } : {}),
            ...(check.tlsServerName ? { servername: check.tlsServerName } : {}),
          }
        : {}),
    };
    const req = (secure ? https : http).request(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk.slice(0, 4096 - body.length)));
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        const output = `${what}: ${code} ${res.statusMessage ?? ''} Output: ${body}`;
        resolve([code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical', output]);
      });
      res.on('error', (err) => resolve(['critical', `${what}: ${err.message}`]));
    });
    req.on('timeout', () => req.destroy(new Error(`request timed out after ${check.timeoutMs} ms`)));
    req.on('error', (err) => resolve(['critical', `${what}: ${err.message}`]));
    req.end();
  });
}

/** The AccessorID of aclReadToken, which Consul's refusals of a known token name. */
const READER_ACCESSOR = '00000000-0000-4000-8000-0000000000ad';

/** Consul decodes JSON keys case-insensitively and translates snake_case: do the same. */
function field(obj: Record<string, unknown>, name: string): unknown {
  const want = name.toLowerCase();
  for (const [key, value] of Object.entries(obj)) if (key.toLowerCase().replaceAll('_', '') === want) return value;
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringField(obj: Record<string, unknown>, name: string, fallback = ''): string {
  const value = field(obj, name);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string') throw new HttpError(400, `Request decode failed: ${name} must be a string`);
  return value;
}

function durationField(obj: Record<string, unknown>, name: string): { ms: number; text: string } | null {
  const text = stringField(obj, name);
  if (text === '') return null;
  const ms = parseGoDuration(text);
  if (ms === null || ms < 0) throw new HttpError(400, `Request decode failed: ${name}: invalid duration "${text}"`);
  return { ms, text };
}

/** What Consul's validateMetaPair finds wrong with a Meta pair, in its words; lengths are Go's, in bytes. */
function metaPairProblem(key: string, value: string): string | null {
  if (key === '') return 'Key cannot be blank';
  if (!META_KEY.test(key)) return 'Key contains invalid characters';
  if (Buffer.byteLength(key) > 128) return 'Key is too long (limit: 128 characters)';
  if (key.startsWith('consul-')) return "Key prefix 'consul-' is reserved for internal use";
  if (Buffer.byteLength(value) > 512) return 'Value is too long (limit: 512 characters)';
  return null;
}

function parseBool(value: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return null;
}

export class ConsulDouble {
  private readonly node: string;
  private readonly datacenter: string;
  private readonly checkTls: CheckTls | undefined;
  private readonly tls: ConsulDoubleOptions['tls'];
  private readonly aclWriteToken: string | undefined;
  private readonly aclReadToken: string | undefined;
  private readonly dev: boolean;
  private readonly services = new Map<string, ServiceState>();
  /**
   * Per service name, in lower case (Consul looks names up whatever their letter case): the global
   * index of its last change (kept after its last instance left).
   */
  private readonly nameIndex = new Map<string, number>();
  private index = 1;
  /** Blocking queries in progress; each re-reads its own service's index when woken. */
  private readonly waiters = new Set<() => void>();
  /** Per endpoint, while set (holdAnswers), each answer waits for it. */
  private readonly holds = new Map<HeldEndpoint, AnswerHold>();
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  private wasStopped = false;
  private closed = false;

  constructor(options: ConsulDoubleOptions = {}) {
    this.node = options.node ?? 'consul-double';
    this.datacenter = options.datacenter ?? 'dc1';
    this.checkTls = options.checkTls;
    this.tls = options.tls;
    this.aclWriteToken = options.aclWriteToken;
    this.aclReadToken = options.aclReadToken;
    this.dev = options.dev ?? false;
  }

  /** Listens on 127.0.0.1:`port` (0: any free port); after stop(), resumes the kept state. */
  async start(port = 0): Promise<{ address: string; port: number }> {
    if (this.closed) throw new Error('ConsulDouble: closed');
    if (this.server) throw new Error('ConsulDouble: already started');
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => this.handle(req, res);
    const server: http.Server | https.Server = this.tls ? https.createServer(this.tls, handler) : http.createServer(handler);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    if (this.wasStopped) this.restoreChecks();
    const bound = (server.address() as AddressInfo).port;
    return { address: `${this.tls ? 'https' : 'http'}://127.0.0.1:${bound}`, port: bound };
  }

  /** The agent goes down: listener closed, connections cut, checks and reaping paused; state kept. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.wasStopped = true;
    for (const service of this.services.values()) for (const check of service.checks) this.unschedule(check);
    this.waiters.clear();
    if (this.dev) {
      this.services.clear();
      this.nameIndex.clear();
      this.index = 1;
    }
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** stop(), for good: no timer of the double is left running. */
  async close(): Promise<void> {
    await this.stop();
    this.closed = true;
  }

  /**
   * An agent slow to answer `endpoint`: from now on each request is served at once (a registration
   * taken, as the agent takes it before it answers) and its answer held until `release()`.
   * `arrived` resolves at the first: with the ID it registered, or the path it listed.
   */
  holdAnswers(endpoint: HeldEndpoint): { arrived: Promise<string>; release(): void } {
    let arrive: (what: string) => void = () => undefined;
    const arrived = new Promise<string>((resolve) => (arrive = resolve));
    const held: (() => void)[] = [];
    const hold: AnswerHold = { arrive, held };
    this.holds.set(endpoint, hold);
    return {
      arrived,
      release: () => {
        if (this.holds.get(endpoint) === hold) this.holds.delete(endpoint);
        for (const answer of held.splice(0)) answer();
      },
    };
  }

  /** `answer` now, or once the hold of `endpoint` is released, telling the hold what arrived. */
  private answerOrHold(endpoint: HeldEndpoint, what: string, answer: () => void): void {
    const hold = this.holds.get(endpoint);
    if (!hold) return answer();
    hold.held.push(answer);
    hold.arrive(what);
  }

  /** The current raft-like index (test introspection). */
  get currentIndex(): number {
    return this.index;
  }

  // --- state changes ---------------------------------------------------------------------------

  private bump(serviceName: string): void {
    this.index += 1;
    this.nameIndex.set(serviceName.toLowerCase(), this.index);
    for (const wake of [...this.waiters]) wake();
  }

  private indexFor(serviceName: string): number {
    // Never 0: a client that sends index=0 would not block and would spin.
    return this.nameIndex.get(serviceName.toLowerCase()) ?? 1;
  }

  /** Takes a registration; returns the service's ID. */
  private register(body: unknown): string {
    if (!isRecord(body)) throw new HttpError(400, 'Request decode failed: body must be a JSON object');
    const name = stringField(body, 'Name');
    if (!name) throw new HttpError(400, 'Missing service name');
    const id = stringField(body, 'ID', name);
    const address = stringField(body, 'Address');
    if (['0.0.0.0', '::', '[::]'].includes(address)) throw new HttpError(400, 'Invalid service address');
    const tagsValue = field(body, 'Tags') ?? [];
    if (!Array.isArray(tagsValue) || !tagsValue.every((t): t is string => typeof t === 'string')) {
      throw new HttpError(400, 'Request decode failed: Tags must be an array of strings');
    }
    const portValue = field(body, 'Port') ?? 0;
    if (typeof portValue !== 'number' || !Number.isInteger(portValue) || portValue < 0 || portValue > 65535) {
      throw new HttpError(400, 'Request decode failed: Port must be an integer');
    }
    const meta = this.parseMeta(field(body, 'Meta'));
    const checkDefs: Record<string, unknown>[] = [];
    const one = field(body, 'Check');
    const many = field(body, 'Checks');
    if (isRecord(one)) checkDefs.push(one);
    if (Array.isArray(many)) for (const c of many) if (isRecord(c)) checkDefs.push(c);

    const previous = this.services.get(id);
    const service: ServiceState = {
      id,
      name,
      tags: tagsValue,
      address,
      port: portValue,
      meta,
      createIndex: previous?.createIndex ?? this.index + 1,
      modifyIndex: this.index + 1,
      checks: [],
    };
    service.checks = checkDefs.map((def, i) =>
      this.parseCheck(def, service, checkDefs.length === 1 ? `service:${id}` : `service:${id}:${i + 1}`),
    );
    // A check that keeps its ID across a re-registration keeps its status (no flap to critical).
    for (const check of service.checks) {
      const old = previous?.checks.find((c) => c.id === check.id);
      if (old && field(checkDefs[service.checks.indexOf(check)]!, 'Status') === undefined) {
        check.status = old.status;
        check.output = old.output;
        check.criticalSince = old.criticalSince;
        check.createIndex = old.createIndex;
      }
    }
    if (previous) {
      for (const check of previous.checks) this.unschedule(check);
      if (previous.name !== name) this.bump(previous.name);
    }
    this.services.set(id, service);
    this.bump(name);
    for (const check of service.checks) {
      check.modifyIndex = this.index;
      this.scheduleRun(check, Math.random() * check.intervalMs);
      this.scheduleReap(service, check);
    }
    return id;
  }

  private parseMeta(value: unknown): Record<string, string> {
    if (value === undefined || value === null) return {};
    if (!isRecord(value)) throw new HttpError(400, 'Request decode failed: Meta must be an object');
    const meta: Record<string, string> = {};
    const entries = Object.entries(value);
    if (entries.length > 64) throw new HttpError(400, 'Invalid Service Meta: Node metadata cannot contain more than 64 key/value pairs');
    for (const [key, v] of entries) {
      if (typeof v !== 'string') throw new HttpError(400, `Request decode failed: Meta["${key}"] must be a string`);
      const problem = metaPairProblem(key, v);
      if (problem) throw new HttpError(400, `Invalid Service Meta: Couldn't load metadata pair ('${key}', '${v}'): ${problem}`);
      meta[key] = v;
    }
    return meta;
  }

  private parseCheck(def: Record<string, unknown>, service: ServiceState, defaultId: string): CheckState {
    const grpc = stringField(def, 'GRPC');
    const httpUrl = stringField(def, 'HTTP');
    const interval = durationField(def, 'Interval');
    if (!grpc && !httpUrl) {
      throw new HttpError(400, 'Invalid check: the Consul double runs only GRPC and HTTP checks (GRPC or HTTP, and Interval)');
    }
    if (!interval) throw new HttpError(400, `Invalid check: Interval must be > 0 for ${grpc ? 'GRPC' : 'HTTP'} checks`);
    if (httpUrl && !/^https?:\/\//.test(httpUrl)) throw new HttpError(400, `Invalid check: HTTP must be an http:// or https:// URL`);
    const headerValue = field(def, 'Header') ?? {};
    if (!isRecord(headerValue) || !Object.values(headerValue).every((v) => Array.isArray(v) && v.every((x) => typeof x === 'string'))) {
      throw new HttpError(400, 'Request decode failed: Header must map names to arrays of strings');
    }
    const timeout = durationField(def, 'Timeout');
    const deregister = durationField(def, 'DeregisterCriticalServiceAfter');
    const initial = stringField(def, 'Status', 'critical');
    if (initial !== 'passing' && initial !== 'warning' && initial !== 'critical') {
      throw new HttpError(400, `Invalid check: Status must be passing, warning or critical, not "${initial}"`);
    }
    const slash = grpc.indexOf('/');
    const useTls = field(def, 'GRPCUseTLS');
    return {
      id: stringField(def, 'CheckID', stringField(def, 'ID', defaultId)),
      name: stringField(def, 'Name', `Service '${service.name}' check`),
      notes: stringField(def, 'Notes'),
      kind: grpc ? 'grpc' : 'http',
      grpcTarget: slash < 0 ? grpc : grpc.slice(0, slash),
      grpcService: slash < 0 ? '' : grpc.slice(slash + 1),
      grpcDefinition: grpc,
      grpcUseTls: useTls === true,
      httpUrl,
      httpMethod: stringField(def, 'Method', 'GET') || 'GET',
      httpHeaders: headerValue as Record<string, string[]>,
      tlsServerName: stringField(def, 'TLSServerName'),
      tlsSkipVerify: field(def, 'TLSSkipVerify') === true,
      intervalMs: Math.max(MIN_CHECK_INTERVAL_MS, interval.ms),
      intervalText: interval.text,
      timeoutMs: timeout?.ms ?? DEFAULT_CHECK_TIMEOUT_MS,
      timeoutText: timeout?.text ?? '',
      deregisterAfterMs: deregister && deregister.ms > 0 ? deregister.ms : null,
      status: initial,
      output: '',
      criticalSince: initial === 'critical' ? Date.now() : null,
      createIndex: this.index + 1,
      modifyIndex: this.index + 1,
      generation: 0,
    };
  }

  private deregister(id: string): void {
    const service = this.services.get(id);
    if (!service) throw new HttpError(404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
    for (const check of service.checks) this.unschedule(check);
    this.services.delete(id);
    this.bump(service.name);
  }

  private setStatus(service: ServiceState, check: CheckState, status: CheckStatus, output: string): void {
    check.output = output;
    if (check.status === status) return;
    check.status = status;
    check.criticalSince = status === 'critical' ? Date.now() : null;
    this.bump(service.name);
    check.modifyIndex = this.index;
    service.modifyIndex = this.index;
    this.scheduleReap(service, check);
  }

  /** After a restart: every check critical until it runs again, as Consul restores persisted checks. */
  private restoreChecks(): void {
    for (const service of this.services.values()) {
      for (const check of service.checks) {
        if (check.status !== 'critical') this.setStatus(service, check, 'critical', 'agent restarted: not checked yet');
        else check.criticalSince = Date.now();
        this.scheduleRun(check, Math.random() * check.intervalMs);
        this.scheduleReap(service, check);
      }
    }
  }

  // --- checks ----------------------------------------------------------------------------------

  private unschedule(check: CheckState): void {
    check.generation += 1;
    clearTimeout(check.runTimer);
    clearTimeout(check.reapTimer);
    check.runTimer = undefined;
    check.reapTimer = undefined;
  }

  private scheduleRun(check: CheckState, delayMs: number): void {
    clearTimeout(check.runTimer);
    const generation = ++check.generation;
    check.runTimer = setTimeout(() => void this.runCheck(check, generation), delayMs);
  }

  private async runCheck(check: CheckState, generation: number): Promise<void> {
    const [status, output] = await this.probe(check);
    if (check.generation !== generation || !this.server) return; // deregistered, replaced or stopped meanwhile
    const service = [...this.services.values()].find((s) => s.checks.includes(check));
    if (!service) return;
    this.setStatus(service, check, status, output);
    if (this.services.get(service.id) === service) this.scheduleRun(check, check.intervalMs);
  }

  private probe(check: CheckState): Promise<[CheckStatus, string]> {
    if (check.kind === 'http') return httpProbe(check, this.checkTls);
    const client = healthClient(check, this.checkTls);
    const what = `gRPC check ${check.grpcDefinition}`;
    return new Promise((resolve) => {
      client.check({ service: check.grpcService }, { deadline: Date.now() + check.timeoutMs }, (err, reply) => {
        client.close();
        if (err) resolve(['critical', `${what}: failed: ${err.message}`]);
        else if (reply?.status === 'SERVING') resolve(['passing', `${what}: success`]);
        else resolve(['critical', `${what}: failed: gRPC application didn't report service healthy (${reply?.status ?? 'no reply'})`]);
      });
    });
  }

  private scheduleReap(service: ServiceState, check: CheckState): void {
    clearTimeout(check.reapTimer);
    check.reapTimer = undefined;
    if (check.deregisterAfterMs === null || check.criticalSince === null || !this.server) return;
    const due = check.criticalSince + check.deregisterAfterMs - Date.now();
    check.reapTimer = setTimeout(
      () => {
        if (this.services.get(service.id) !== service || check.status !== 'critical') return;
        this.deregister(service.id);
      },
      Math.max(0, due),
    );
  }

  // --- HTTP ------------------------------------------------------------------------------------

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://consul');
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      try {
        const token = req.headers['x-consul-token'] ?? url.searchParams.get('token') ?? '';
        this.route(req.method ?? 'GET', url, body, res, typeof token === 'string' ? token : '');
      } catch (err) {
        const status = err instanceof HttpError ? err.status : 500;
        res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(err instanceof Error ? err.message : String(err));
      }
    });
  }

  private route(method: string, url: URL, body: string, res: http.ServerResponse, token: string): void {
    const path = url.pathname;
    const only = (allowed: string): void => {
      if (method !== allowed) throw new HttpError(405, `method ${method} not allowed`);
    };
    const acls = this.aclWriteToken !== undefined;
    // A token the agent cannot resolve is refused whatever it asks (acl.ErrNotFound, answered 403).
    if (acls && token && token !== this.aclWriteToken && token !== this.aclReadToken) throw new HttpError(403, 'ACL not found');
    const mayWrite = (service: string): void => {
      if (!acls || token === this.aclWriteToken) return;
      // Consul's words (acl.PermissionDeniedError).
      const denied = `lacks permission 'service:write' on "${service}"`;
      throw new HttpError(
        403,
        token
          ? `Permission denied: token with AccessorID '${READER_ACCESSOR}' ${denied}`
          : `Permission denied: anonymous token ${denied}. The anonymous token is used implicitly when a request does not specify a token.`,
      );
    };
    if (path === '/v1/agent/service/register') {
      only('PUT');
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch (err) {
        throw new HttpError(400, `Request decode failed: ${(err as Error).message}`);
      }
      mayWrite(isRecord(parsed) ? stringField(parsed, 'Name') : '');
      const id = this.register(parsed);
      return this.answerOrHold('register', id, () => this.reply(res, 200, ''));
    }
    if (path.startsWith('/v1/agent/service/deregister/')) {
      only('PUT');
      const id = decodeURIComponent(path.slice('/v1/agent/service/deregister/'.length));
      mayWrite(this.services.get(id)?.name ?? id);
      this.deregister(id);
      return this.reply(res, 200, '');
    }
    if (path === '/v1/agent/services') {
      only('GET');
      const listed = Object.fromEntries([...this.services.values()].map((s) => [s.id, this.agentService(s)]));
      return this.answerOrHold('services', path, () => this.reply(res, 200, listed));
    }
    if (path.startsWith('/v1/agent/service/')) {
      only('GET');
      const id = decodeURIComponent(path.slice('/v1/agent/service/'.length));
      const service = this.services.get(id);
      if (!service) throw new HttpError(404, `unknown service ID: ${id}`);
      return this.reply(res, 200, this.agentService(service));
    }
    if (path === '/v1/agent/checks') {
      only('GET');
      const checks = [...this.services.values()].flatMap((s) => s.checks.map((c) => [c.id, this.healthCheck(s, c)] as const));
      return this.reply(res, 200, Object.fromEntries(checks));
    }
    if (path.startsWith('/v1/health/service/')) {
      only('GET');
      return this.healthService(decodeURIComponent(path.slice('/v1/health/service/'.length)), url.searchParams, res);
    }
    if (path === '/v1/status/leader') {
      only('GET');
      return this.reply(res, 200, '127.0.0.1:8300');
    }
    throw new HttpError(404, `the Consul double does not implement ${method} ${path}`);
  }

  private reply(res: http.ServerResponse, status: number, body: unknown, index?: number): void {
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/json',
      'x-consul-default-acl-policy': 'allow',
      'x-consul-effective-consistency': 'leader',
      'x-consul-knownleader': 'true',
      'x-consul-lastcontact': '0',
    };
    if (index !== undefined) headers['x-consul-index'] = String(index);
    res.writeHead(status, headers).end(body === '' ? '' : JSON.stringify(body));
  }

  private healthService(name: string, query: URLSearchParams, res: http.ServerResponse): void {
    const dc = query.get('dc');
    if (dc && dc !== this.datacenter) throw new HttpError(500, 'No path to datacenter');
    if (query.has('filter')) throw new HttpError(400, 'the Consul double does not implement filter expressions');
    let passing = false;
    if (query.has('passing')) {
      const value = query.get('passing')!;
      const parsed = value === '' ? true : parseBool(value);
      if (parsed === null) throw new HttpError(400, 'Invalid value for ?passing');
      passing = parsed;
    }
    const tags = query.getAll('tag');
    let minIndex = 0;
    if (query.has('index')) {
      const text = query.get('index')!;
      if (!/^\d+$/.test(text)) throw new HttpError(400, 'Invalid index');
      minIndex = Number(text);
    }
    let waitMs = DEFAULT_WAIT_MS;
    if (query.has('wait')) {
      const parsed = parseGoDuration(query.get('wait')!);
      if (parsed === null || parsed < 0) throw new HttpError(400, 'Invalid wait time');
      waitMs = Math.min(parsed, MAX_WAIT_MS);
    }

    const answer = (): void => {
      const entries = [...this.services.values()]
        .filter(
          (s) =>
            s.name.toLowerCase() === name.toLowerCase() && tags.every((t) => s.tags.some((own) => own.toLowerCase() === t.toLowerCase())),
        )
        .map((s) => this.entry(s))
        .filter((e) => !passing || e.Checks.every((c) => c.Status === 'passing'));
      this.reply(res, 200, entries, this.indexFor(name));
    };
    if (minIndex === 0 || this.indexFor(name) > minIndex) return answer();

    // Blocking: answer on the first change of this service past minIndex, or when wait is over.
    // eslint-disable-next-line prefer-const -- assigned below, after finish, which clears it, is defined
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      this.waiters.delete(wake);
      res.off('close', abandon);
      answer();
    };
    const wake = (): void => {
      if (this.indexFor(name) > minIndex) finish();
    };
    const abandon = (): void => {
      clearTimeout(timer);
      this.waiters.delete(wake);
    };
    this.waiters.add(wake);
    res.once('close', abandon);
    timer = setTimeout(finish, waitMs);
  }

  private agentService(s: ServiceState): AgentService {
    return {
      ID: s.id,
      Service: s.name,
      Tags: s.tags,
      Address: s.address,
      Port: s.port,
      Meta: s.meta,
      Weights: { Passing: 1, Warning: 1 },
      EnableTagOverride: false,
      Datacenter: this.datacenter,
      CreateIndex: s.createIndex,
      ModifyIndex: s.modifyIndex,
    };
  }

  private healthCheck(s: ServiceState, c: CheckState): HealthCheck {
    return {
      Node: this.node,
      CheckID: c.id,
      Name: c.name,
      Status: c.status,
      Notes: c.notes,
      Output: c.output,
      ServiceID: s.id,
      ServiceName: s.name,
      ServiceTags: s.tags,
      Type: c.kind,
      Interval: c.intervalText,
      Timeout: c.timeoutText,
      CreateIndex: c.createIndex,
      ModifyIndex: c.modifyIndex,
    };
  }

  private entry(s: ServiceState): HealthServiceEntry {
    const serfHealth: HealthCheck = {
      Node: this.node,
      CheckID: 'serfHealth',
      Name: 'Serf Health Status',
      Status: 'passing',
      Notes: '',
      Output: 'Agent alive and reachable',
      ServiceID: '',
      ServiceName: '',
      ServiceTags: [],
      Type: '',
      Interval: '',
      Timeout: '',
      CreateIndex: 1,
      ModifyIndex: 1,
    };
    return {
      Node: {
        ID: '00000000-0000-0000-0000-000000000001',
        Node: this.node,
        Address: '127.0.0.1',
        Datacenter: this.datacenter,
        TaggedAddresses: { lan: '127.0.0.1', wan: '127.0.0.1' },
        Meta: {},
      },
      Service: this.agentService(s),
      Checks: [serfHealth, ...s.checks.map((c) => this.healthCheck(s, c))],
    };
  }
}
