/**
 * A grpc-js resolver for `consul://AGENT_HOST:PORT/SERVICE?tag=T&dc=D`: watches the service's passing
 * instances with Consul blocking queries and hands them to grpc-js, whose balancing policy
 * (least_request, round_robin or pick_first) spreads calls over them.
 *
 * The grpc-js resolver API is experimental (its listener became a function in 1.14): grpc-js is
 * pinned to ~1.14 in package.json and this file is tested against it.
 */
import http from 'node:http';
import https from 'node:https';
import { experimental, status, type ChannelOptions } from '@grpc/grpc-js';
import { consulAgentTls, consulAgentUrl, consulEnvToken, type ConsulAgentTls } from './consul-agent.js';
import { agentUnreachable, ConsulTokenRefusal, noPassingInstance, tokenRefused } from './consul-failure.js';
import { blockingWaitMs, healthQueryUrl, instancesOf, nextIndex, parseConsulTarget, type ConsulTarget } from './consul-target.js';

/**
 * Past its wait (and the wait/16 of jitter Consul adds), a query with no answer is given up and
 * asked again: an agent that vanished without closing the connection (a host gone, a half-open TCP
 * connection) would otherwise hold the watch for as long as its socket stays open while instances come and go.
 */
const ANSWER_MARGIN_MS = 5_000;
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
/** A blocking query answered faster than this without a change did not block. */
const MIN_BLOCK_MS = 50;

type Endpoint = experimental.Endpoint;

/** The descriptions of the calls that fail because Consul gave no instance to call (fail() below). */
export const CONSUL_GAVE_NO_INSTANCE =
  /^(?:no passing instance of "[^"]*" in Consul at |Consul at \S+ unreachable: |Consul at \S+ refused the client's token: )/;

export class ConsulResolver implements experimental.Resolver {
  private readonly target: ConsulTarget;
  private readonly tls: ConsulAgentTls | undefined;
  /** Why the agent cannot be asked at all (a TLS or token file unreadable): every call fails with it. */
  private readonly unusable: string | undefined;
  private readonly token: string | undefined;
  private readonly waitMs: number;
  private index = 0;
  private last: Endpoint[] | null = null;
  private watching: AbortController | null = null;
  private backoffMs = MIN_BACKOFF_MS;
  /** The addresses last passed on since the resolver was (re)started (report()). */
  private reported: string | null = null;

  constructor(
    uri: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
    options: ChannelOptions,
  ) {
    const tlsOption: unknown = options['ocr.consul_tls'];
    this.target = parseConsulTarget(consulAgentUrl(uri.authority, tlsOption), uri.path);
    const fromOptions: unknown = options['ocr.consul_token'];
    try {
      if (this.target.agent.startsWith('https:')) this.tls = consulAgentTls(tlsOption);
      this.token = typeof fromOptions === 'string' ? fromOptions : consulEnvToken();
    } catch (err) {
      this.unusable = (err as Error).message;
    }
    this.waitMs = blockingWaitMs(options['ocr.consul_wait_ms']);
  }

  static getDefaultAuthority(uri: experimental.GrpcUri): string {
    return parseConsulTarget('', uri.path).service;
  }

  updateResolution(): void {
    if (this.unusable !== undefined) {
      const reason = this.unusable;
      setImmediate(() => this.listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details: reason }), {}, null, reason));
    } else if (!this.watching) {
      this.watching = new AbortController();
      // Back from idle (grpc-js destroys an idle channel's resolver, then asks again on its next
      // call): the channel has no address until one is passed on, and the watch's first answer may
      // be a while (an agent out of reach), so what was known goes at once.
      const known = this.last;
      if (known) setImmediate(() => this.report(known));
      void this.watch(this.watching.signal);
    }
    // Else grpc-js asks again after a connection failed: the watch passes on what Consul changes,
    // and the same list again would make round_robin start its connections over, the one refused
    // at once asking again, in a loop.
  }

  destroy(): void {
    this.watching?.abort();
    this.watching = null;
    this.reported = null;
    // The next watch asks afresh: a query for a change past the old index would be held for its
    // whole wait while nothing changes.
    this.index = 0;
  }

  /** Passes `endpoints` on, unless they are what was passed on last since the resolver was (re)started. */
  private report(endpoints: Endpoint[]): void {
    if (!this.watching) return;
    const key = endpoints.map((endpoint) => endpoint.addresses.map(experimental.subchannelAddressToString).join(' ')).join(',');
    if (key === this.reported) return;
    this.reported = key;
    this.listener(experimental.statusOrFromValue(endpoints), {}, null, '');
  }

  private fail(details: string): void {
    if (!this.watching) return;
    this.reported = null;
    this.listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details }), {}, null, details);
  }

  private async watch(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const asked = performance.now();
      try {
        const { body, index } = await this.query(signal);
        const changed = index !== this.index || this.last === null;
        this.index = index;
        if (!changed) {
          // A blocking query that comes back at once with nothing new (an agent restarting, a proxy
          // cutting long polls) must not turn into a busy loop: wait before asking again.
          if (performance.now() - asked < MIN_BLOCK_MS) {
            await delay(this.backoffMs, signal);
            this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
          }
          continue;
        }
        this.backoffMs = MIN_BACKOFF_MS;
        const endpoints = instancesOf(body).map(({ host, port }) => ({ addresses: [{ host, port }] }));
        if (endpoints.length > 0) {
          this.last = endpoints;
          this.report(endpoints);
        } else if (!this.last) {
          this.fail(noPassingInstance(this.target));
        }
        // An empty list after a good one is not passed on: some grpc-js versions never recover from
        // an empty address list, and callers are better served by the last instances known.
      } catch (err) {
        if (signal.aborted) return;
        // Consul unreachable: keep the last good list; without one, calls fail fast with the reason.
        if (!this.last) {
          const reason = (err as Error).message;
          this.fail(err instanceof ConsulTokenRefusal ? tokenRefused(this.target, reason) : agentUnreachable(this.target, reason));
        }
        // Ask afresh, without blocking: an agent that restarted meanwhile (a -dev one, or one
        // without its data) counts from a lower index, and Consul holds a query for an index it has
        // not reached for its whole wait: the instances it has now would arrive only after it.
        this.index = 0;
        await delay(this.backoffMs * (0.5 + Math.random()), signal);
        this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
      }
    }
  }

  /** One blocking query, answered within its wait and a margin, body and all, or failed. */
  private async query(signal: AbortSignal): Promise<{ body: unknown; index: number }> {
    const answerMs = Math.ceil(this.waitMs + this.waitMs / 16 + ANSWER_MARGIN_MS);
    // A timer of its own, not AbortSignal.timeout: AbortSignal.any holds its sources weakly, and a
    // timeout signal that nothing else holds is collected with the next garbage collection, after
    // which the query would wait for its socket's own timeout.
    const unanswered = new AbortController();
    const timer = setTimeout(() => unanswered.abort(new Error(`no answer in ${answerMs} ms`)), answerMs).unref();
    try {
      const headers: Record<string, string> = this.token ? { 'X-Consul-Token': this.token } : {};
      const url = healthQueryUrl(this.target, this.index, `${this.waitMs}ms`);
      const response = await unrefGet(url, headers, this.tls, AbortSignal.any([signal, unanswered.signal]));
      // Consul refuses a token it does not know on every endpoint (403 "ACL not found"): no outage.
      if (response.status === 403) throw new ConsulTokenRefusal(response.body.trim());
      if (response.status !== 200) throw new Error(`Consul answered ${response.status} ${response.body}`);
      return { body: JSON.parse(response.body) as unknown, index: nextIndex(this.index, response.index) };
    } catch (err) {
      throw unanswered.signal.aborted ? (unanswered.signal.reason as Error) : err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A GET whose socket keeps no process alive, as grpc-js's own resolvers' timers keep none: a
 * process whose client is not closed exits when its work is done, though the watch always has a
 * query open. Calls waiting for an address are kept alive by grpc-js itself.
 */
function unrefGet(
  url: string,
  headers: Record<string, string>,
  tls: ConsulAgentTls | undefined,
  signal: AbortSignal,
): Promise<{ status: number; body: string; index: string | null }> {
  return new Promise((resolve, reject) => {
    const request = (tls ? https : http).get(url, { headers, signal, ...tls }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('error', reject);
      response.on('end', () => {
        const index = response.headers['x-consul-index'];
        resolve({ status: response.statusCode ?? 0, body, index: typeof index === 'string' ? index : null });
      });
    });
    // The agent's pool refs a socket it hands out again; unref it for every query.
    request.on('socket', (socket) => socket.unref());
    request.on('error', reject);
  });
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // Between queries nothing is open: the watch alone must not keep the process alive.
    const timer = setTimeout(resolve, ms).unref();
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

let registered = false;

/** Makes `consul://` targets work on every grpc-js channel of this process (idempotent). */
export function registerConsulResolver(): void {
  if (registered) return;
  experimental.registerResolver('consul', ConsulResolver);
  registered = true;
}
