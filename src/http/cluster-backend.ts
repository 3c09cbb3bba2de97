/**
 * The HTTP front door of `ocr gateway`: each request becomes a call to the cluster through the
 * SDK, which balances over the healthy instances, retries a refused or lost call elsewhere and
 * follows Consul. The gateway holds no state, so several can run side by side.
 */
import { Gauge, Registry } from 'prom-client';
import { OcrCallError, type CallSettings, type OcrClient } from '../client/index.js';
import type { ServerInfo } from '../gen/ocr/v1/ocr.js';
import type { HttpCall, OcrBackend } from './backend.js';
import { collectProcessMetrics } from '../shared/process-metrics.js';
import { noInstanceReason, reachedInstance, type ClusterReach } from './cluster-reach.js';
import { HttpError, refusedForWork, workOverDeadline } from './failure.js';
import { scopeRefusalFor } from '../auth/access.js';
import { AuthFailure, bearerToken } from '../auth/bearer.js';
import { asMetadataValue } from '../shared/metadata-value.js';

/**
 * The call's settings. The caller's authorization header goes on to the instances as it came, in
 * place of the gateway's own token (--token): the instances check it and decide, so a value they
 * ignore (no tokens configured) or refuse gets the answer it gets from them directly. None leaves
 * the gateway's.
 */
function settings(call: HttpCall): CallSettings {
  return {
    signal: call.signal,
    priority: call.priority,
    ...(call.authorization !== undefined ? { authorization: asMetadataValue(call.authorization) } : {}),
    // The instances' logs then name the request as the gateway's answer and logs do.
    requestId: asMetadataValue(call.requestId),
    // No timeout from the caller: the client's default deadline.
    ...(call.deadline !== undefined ? { deadlineMs: Math.max(1, call.deadline - Date.now()) } : {}),
  };
}

export interface ClusterBackend extends OcrBackend {
  readonly registry: Registry;
  /** /readyz answers 503 from now on, on the connections still open while the requests in flight finish (app.ts). */
  drain(): void;
  /** Until a call has reached an instance, /readyz asks the cluster (probeReach) and answers 503 `starting`. */
  ready(): Promise<boolean>;
  /** Calls to the cluster not yet answered: what a forced exit cuts. */
  readonly inFlight: number;
}

/**
 * The answer to a request that reached no instance. The SDK's description tells its own caller what
 * to change (the target, TLS options), and names the instances' addresses: here the one who can act
 * on it is the gateway's operator, whose log has it (cluster-reach.ts).
 */
export const NO_INSTANCE_REACHED =
  "no OCR instance behind this gateway can be reached now: retry in a few seconds, as Retry-After says; if it lasts, tell the gateway's operator (its log says why)";

/** The answer to a caller who sent no token when the instances refuse the one the gateway sent for it (its --token). */
export const gatewayTokenRefused = (details: string): string =>
  `the instances refuse this gateway's own token, which it sends for callers who send none (${details}): send a token of your own ("authorization: Bearer <token>"), or tell the gateway's operator`;

/**
 * When a request that reached no instance may try again: the SDK's reconnections are a second or
 * more apart, and the gateway's at most this far (gateway-channel.ts).
 */
export const NO_INSTANCE_RETRY_MS = 5000;

/**
 * How long /readyz waits for its probe of the cluster before it answers: under the 1 s a
 * Kubernetes probe allows by default. The probe goes on for READINESS_PROBE_MS, for the next /readyz.
 */
const READINESS_WAIT_MS = 500;
const READINESS_PROBE_MS = 3000;

/**
 * How old the last call's outcome may be for a scrape of ocr_gateway_cluster_reachable to read it;
 * an older one, or none yet, and the scrape asks the cluster first (the readiness probe). Read from
 * calls alone, the gauge said 0 on a quiet gateway until its first request, and 1 on one whose
 * cluster went while no request came: its alert fired on every idle gateway and missed the outage.
 */
const REACH_FRESH_MS = 5000;

/** The answer to a request that set no timeout_ms of its own when the gateway's deadline passed. */
export const gatewayDeadlinePassed = (deadlineMs: number): string =>
  `the gateway's deadline of ${deadlineMs} ms (its --deadline-ms) passed before the answer came: send a longer timeout_ms, or a smaller image, or retry when the service is less busy`;

/**
 * The answer to a request that set no timeout_ms of its own, refused at once by an instance because
 * its work would not fit in what the gateway's deadline left (failure.ts): that deadline had not passed.
 */
function gatewayDeadline(deadlineMs: number, description: string): string {
  const early = workOverDeadline(description);
  const deadline = `the gateway's deadline of ${deadlineMs} ms (its --deadline-ms)`;
  return early ? refusedForWork(deadline, early, 'send a longer timeout_ms, or a smaller image') : gatewayDeadlinePassed(deadlineMs);
}

/**
 * An instance's refusal of who calls, as the AuthFailure the instance's own HTTP front door makes
 * of it, so that its message and WWW-Authenticate read alike (RFC 6750). A missing scope names what
 * the HTTP caller called (POST /api/ocr), not the gRPC method the gateway called for it. A refusal
 * of the token: no error for no token, invalid_request for a value that is no bearer token (both
 * read again from the caller's values, which went on as they came), invalid_token otherwise.
 */
function relayedAuthFailure(err: OcrCallError, call: HttpCall, ownToken: boolean): AuthFailure | null {
  if (err.code === 'PERMISSION_DENIED') {
    return scopeRefusalFor(err.details, call.what) ?? new AuthFailure('PERMISSION_DENIED', err.details, 'insufficient_scope');
  }
  if (err.code !== 'UNAUTHENTICATED') return null;
  // The caller sent none: the token refused is the gateway's, which the caller cannot mend.
  if (call.authorization === undefined && ownToken) return new AuthFailure('UNAUTHENTICATED', gatewayTokenRefused(err.details));
  try {
    bearerToken(call.authorization !== undefined ? [call.authorization] : []);
  } catch (failure) {
    if (failure instanceof AuthFailure) return new AuthFailure('UNAUTHENTICATED', err.details, failure.bearerError);
  }
  return new AuthFailure('UNAUTHENTICATED', err.details, 'invalid_token');
}

/**
 * The answer to a request the instances do not serve: they run a version older than the gateway's.
 * grpc-js says so by the gRPC method's path, which its HTTP caller never called.
 */
export const notServedByInstances = (what: string): string =>
  `the OCR instances behind this gateway do not serve ${what}: they run an older version than the gateway; tell the gateway's operator to upgrade them, or to run a gateway of their version`;

/** `err` in the words for an HTTP caller of the gateway, where the SDK's are meant for its own caller. */
function forHttpCaller(err: unknown, call: HttpCall, deadlineMs: number, ownToken: boolean): unknown {
  if (noInstanceReason(err) !== null) return new HttpError(503, 'UNAVAILABLE', NO_INSTANCE_REACHED, NO_INSTANCE_RETRY_MS);
  const refusal = err instanceof OcrCallError ? relayedAuthFailure(err, call, ownToken) : null;
  if (refusal) return refusal;
  if (err instanceof OcrCallError && err.code === 'DEADLINE_EXCEEDED' && call.deadline === undefined) {
    return new HttpError(504, 'DEADLINE_EXCEEDED', gatewayDeadline(deadlineMs, err.details));
  }
  if (err instanceof OcrCallError && err.code === 'UNIMPLEMENTED')
    return new HttpError(501, 'UNIMPLEMENTED', notServedByInstances(call.what));
  return err;
}

export interface ClusterBackendOptions {
  /** The deadline of a request that sets no timeout_ms: the client's own (--deadline-ms). */
  deadlineMs: number;
  /** Hears of every call's outcome, to log the loss and the return of the instances. */
  reach?: ClusterReach;
  /** Whether `client` sends a token of the gateway's own (--token) for callers who send none. */
  ownToken?: boolean;
  /** The gateway's own bounds on a request (--max-message-mb, --max-lines), which /api/info reports where they are the lower. */
  limits?: { maxMessageBytes: number; maxLinesPerRequest: number };
}

/**
 * `info` with the gateway's limits where they are lower than the instance's: a caller (the Web UI
 * refusing a file too large before it uploads it) reads there what it may send, and the gateway
 * refuses past its own.
 */
function withGatewayLimits(info: ServerInfo, own: ClusterBackendOptions['limits']): ServerInfo {
  if (!own || !info.limits) return info;
  const lower = (instance: number, gateway: number): number => (instance > 0 ? Math.min(instance, gateway) : gateway);
  return {
    ...info,
    limits: {
      ...info.limits,
      maxMessageBytes: lower(info.limits.maxMessageBytes, own.maxMessageBytes),
      maxLinesPerRequest: lower(info.limits.maxLinesPerRequest, own.maxLinesPerRequest),
    },
  };
}

export function clusterBackend(client: OcrClient, { deadlineMs, reach, ownToken = false, limits }: ClusterBackendOptions): ClusterBackend {
  const registry = new Registry();
  collectProcessMetrics(registry);
  let draining = false;
  let inFlight = 0;
  /**
   * Whether a call has reached an instance since the gateway started, whatever its answer (a refusal
   * of its token included). Until then the gateway is starting: a wrong --target, TLS options or
   * Consul service name keeps it out of a balancer, and a rollout with them stops there. Once true
   * it stays: a gateway that loses its cluster later answers each request 503 with Retry-After and
   * why, where a balancer left with no ready gateway would give its callers errors of its own.
   */
  let reachedOnce = false;
  /** performance.now() at the last call's outcome that said whether an instance was reached (a caller who left says nothing). */
  let lastOutcomeAt = -Infinity;
  const noteOutcome = (err?: unknown): void => {
    if (err === undefined || reachedInstance(err) || noInstanceReason(err) !== null) lastOutcomeAt = performance.now();
    if (err === undefined) reach?.reached();
    else reach?.failed(err);
    if (err === undefined || reachedInstance(err)) reachedOnce = true;
  };
  /** The probe in flight (GetServerInfo, with the gateway's own token if it has one), or null. */
  let probe: Promise<void> | null = null;
  const probeReach = (): Promise<void> =>
    (probe ??= client
      .getServerInfo({ deadlineMs: READINESS_PROBE_MS, requestId: 'gateway-readiness' })
      .then(
        () => noteOutcome(),
        (err: unknown) => noteOutcome(err),
      )
      .finally(() => (probe = null)));
  // A metric to alert on, where the loss was a log line only: 0 while requests are answered 503 for want of an instance.
  new Gauge({
    name: 'ocr_gateway_cluster_reachable',
    help: "1 while the gateway's calls reach an instance of its target, 0 while they reach none (answered 503); with no call in the last 5 s, the scrape asks the cluster first",
    registers: [registry],
    async collect() {
      if (!draining && performance.now() - lastOutcomeAt > REACH_FRESH_MS) await probeReach();
      this.set(reachedOnce && (reach?.reachable ?? true) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ocr_gateway_calls_in_flight',
    help: "Calls from this gateway to its cluster not yet answered (one an OCR or info request): the gateway's share of the cluster's load",
    registers: [registry],
    collect() {
      this.set(inFlight);
    },
  });
  const observed = <T>(answer: Promise<T>, call: HttpCall): Promise<T> => {
    inFlight += 1;
    return answer
      .then(
        (value) => {
          noteOutcome();
          return value;
        },
        (err: unknown) => {
          noteOutcome(err);
          throw forHttpCaller(err, call, deadlineMs, ownToken);
        },
      )
      .finally(() => (inFlight -= 1));
  };
  return {
    registry,
    get inFlight() {
      return inFlight;
    },
    recognize: (image, options, call) => observed(client.recognize(image, options, settings(call)), call),
    recognizeLines: (images, options, call) => observed(client.recognizeLines(images, options, settings(call)), call),
    serverInfo: async (call) => withGatewayLimits(await observed(client.getServerInfo(settings(call)), call), limits),
    async ready() {
      if (!draining && !reachedOnce)
        await Promise.race([probeReach(), new Promise((resolve) => setTimeout(resolve, READINESS_WAIT_MS).unref())]);
      return !draining && reachedOnce;
    },
    starting: () => !draining && !reachedOnce,
    drain: () => (draining = true),
    metrics: async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
  };
}
