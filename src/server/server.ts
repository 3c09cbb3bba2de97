/**
 * One `ocr serve` instance (startServer): its gRPC, HTTP and metrics ports, the connection guard,
 * refusals and interceptors in front of the OCR service, the service itself once the models have
 * loaded, and the drain on shutdown. The wiring is here so that the order of the guards is read in
 * one place (docs/ARCHITECTURE.md, "A call's path").
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp } from '../http/app.js';
import { HttpMetrics } from '../http/http-metrics.js';
import { localBackend } from './http-backend.js';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Server as HttpsServer } from 'node:https';
import type { Server as PlainHttpServer } from 'node:http';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { OcrEngine, type EngineConfig } from '../engine/index.js';
import { OcrServiceService } from '../gen/ocr/v1/ocr.js';
import type { ServiceLimits } from './call-context.js';
import { ReceiveWindowControl } from './http2-receive-window.js';
import { withHttp2Servers, type GrpcHttp2Server } from './http2-servers.js';
import { ConnectionGuard } from './connection-guard.js';
import type { ConnectionLimits } from './connection-limits.js';
import { createLogger, type Logger } from './logger.js';
import { ServerMetrics, type ServerLoad } from './metrics.js';
import { serveMetrics } from './metrics-endpoint.js';
import { DEFAULT_REFUSAL_PACE_MS } from './refusal-pace.js';
import { stampArrivals } from './call-arrival.js';
import { earlyRefusal } from './early-refusal.js';
import { streamUploads } from './stream-uploads.js';
import { refuseFromHeaders } from './header-refusal.js';
import { screenTimeouts } from './grpc-timeout.js';
import { refuseCompressedRequests } from './request-encoding.js';
import { HEADER_LIMIT_OPTIONS, refuseLargeMetadata } from './metadata-size.js';
import { requestFramingBytes } from '../shared/image-limit.js';
import { oversizeRefusal } from './oversize-refusal.js';
import { weighRequest } from './request-weighing.js';
import { UPLOAD_MEMORY_SHARE, UploadGate } from './upload-gate.js';
import { installIncrementalDecoder, messageBuffers } from './incremental-decoder.js';
import { AccessControl, type AccessSettings } from '../auth/access-control.js';
import { grpcRequirement } from '../auth/access.js';
import { accessInterceptor, carryAuthorization } from './access-interceptor.js';
import { requestIdInterceptor } from './request-id-interceptor.js';
import { DEFAULT_OPEN_ENDED_LIMITS, openEndedCallLimit } from './open-ended-calls.js';
import { redactGrpcLogs } from './grpc-log-redaction.js';
import { metricsPortProtection, tlsProtection, tokenProtection, warnIfExposed } from './exposure-warning.js';
import { warnIfContainerLoopback } from './container-loopback.js';
import { ServerCertificates, type ServerTlsConfig } from './server-tls.js';
import { IDLE_TRIM_MS, IdleMemoryTrim, trimArenas, UploadChurnTrim } from './memory-trim.js';
import { createOcrHandlers, type OcrHandlers } from './ocr-handlers.js';
import { createOcrService } from './ocr-service.js';
import { addReflection } from './reflection.js';
import { openResultCache, withResultCache } from './result-cache.js';
import { redactedUrl, type ResultCacheConfig } from './result-cache-config.js';
import { startingService } from './starting-service.js';
import { StartFailure } from './start-failure.js';
import { grpcBindFailure, httpListenFailure } from './bind-failure.js';
import { OCR_SERVICE } from '../shared/service-name.js';
import { SERVER_VERSION } from '../shared/version.js';
import { hostPort } from '../shared/host-port.js';
import { DEFAULT_CLIENT_IPV6_PREFIX } from '../shared/client-address.js';
import { tolerantDecoding } from './request-decoding.js';

/** Under load, freed memory goes back each time uploads bring a quarter of their share, at most once a second (memory-trim.ts). */
const CHURN_TRIM_SHARE = 0.25;
const CHURN_TRIM_EVERY_MS = 1000;

export interface ServerConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  instanceId?: string;
  /** Names the instance from the bound port (port 0 picks it), when instanceId is unset. */
  instanceIdFor?: (port: number) => string;
  /**
   * The engine's settings, or an engine already starting: `ocr serve` starts it before it loads the
   * server's modules, so that the workers load the models meanwhile. Closed here if the start fails.
   */
  engine: Partial<EngineConfig> | Promise<OcrEngine>;
  limits: ServiceLimits;
  logLevel: string;
  /** The HTTP front door (REST API, Web UI, /metrics) on this port of the same host; unset: none. 0 picks a free port. */
  httpPort?: number;
  /** Origins whose pages may call the HTTP API from a browser, or `*` (src/http/cross-origin.ts); unset: its own only. */
  corsOrigins?: readonly string[];
  /** Recognize answers kept for images sent again (result-cache.ts); unset: none. */
  cache?: ResultCacheConfig;
  /** TLS on both ports (and mutual TLS with clientCaFile), the files reloaded when they change (server-tls.ts); unset: plaintext. */
  tls?: ServerTlsConfig;
  /** Bearer tokens (API keys, JWTs), scopes and quotas on both ports (src/auth); unset: every call is let in, without quotas. */
  access?: AccessSettings;
  /**
   * Connections open at once on all ports and from one client, when an idle one makes room
   * (connection-guard.ts), and what keys an IPv6 client, for every per-client limit; unset: its defaults.
   */
  connections?: Partial<ConnectionLimits>;
  /** Prometheus text on this port of the same host as well (metrics-endpoint.ts); unset: none. */
  metricsPort?: number;
}

export interface RunningServer {
  host: string;
  port: number;
  /** Where the HTTP front door listens, when it does. */
  httpPort?: number;
  instanceId: string;
  engine: OcrEngine;
  health: HealthImplementation;
  metrics: ServerMetrics;
  logger: Logger;
  /** The certificate files served, when TLS is on. */
  certificates?: ServerCertificates;
  /** Tokens and quotas, when on: the --metrics-port endpoint asks it too. */
  access?: AccessControl;
  /** Bounds the connections of every port: the --metrics-port endpoint's too. */
  connections: ConnectionGuard;
  /**
   * Stop taking calls: health goes NOT_SERVING, then `beforeDrain` runs (deregistration: new calls
   * are still served meanwhile), calls in flight get what is left of graceMs to finish, then the
   * rest are cancelled and the engine is closed. `stuck` counts inference workers still inside a
   * model call, which keep a process from exiting normally (worker-phase.ts).
   */
  shutdown(graceMs: number, beforeDrain?: () => Promise<void>): Promise<{ stuck: number }>;
}

/** The result cache as the start's log line shows it: where, how much, how long; a Redis URL without its password. */
function describeCache(cache: ResultCacheConfig | undefined): Record<string, unknown> | 'off' {
  if (!cache || cache.backend.kind === 'off') return 'off';
  return {
    backend: cache.backend.kind === 'redis' ? redactedUrl(cache.backend.url) : 'memory',
    maxBytes: cache.maxBytes,
    ttlMs: cache.ttlMs,
  };
}

export const DEFAULT_LIMITS: ServiceLimits = {
  maxMessageBytes: 32 * 1024 * 1024,
  maxLinesPerRequest: 256,
  maxTilesPerImage: 1024,
  maxTiledPixels: 200_000_000,
  tileConcurrency: 4,
  maxImagesPerStream: 8,
  maxTileStreamsPerConnection: 16,
  maxTileStreamIdleMs: 30_000,
  tileStreamMemoryShare: 0.25,
  refusalPaceMs: DEFAULT_REFUSAL_PACE_MS,
  maxUploadIdleMs: 30_000,
  uploadMemoryShare: UPLOAD_MEMORY_SHARE,
};

/**
 * Calls open at once on one connection, as nginx allows; a client's further calls wait on its side
 * (grpc-js and Go queue them). Unbounded, a client that sent calls and never read their answers
 * kept each one open, about 11-21 KB of the server's heap apiece: 10,000 held 110 MB for as long as
 * it liked (docs/RESOURCES.md, "Connections").
 */
export const MAX_STREAMS_PER_CONNECTION = 128;
function bind(server: Server, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port))));
}

/** The engine once its models have loaded: what the metrics, the refusals and the uploads' bound read from then on. */
interface LiveEngine {
  engine?: OcrEngine;
}

/** What the parts made before the models load share: the gRPC server's guards, the HTTP front door. */
interface Wiring {
  config: ServerConfig;
  live: LiveEngine;
  /** gRPC uploads and HTTP bodies alike; bounded in bytes once the memory budget is known. */
  uploads: UploadGate;
  metrics: ServerMetrics;
  access: AccessControl | undefined;
  receiveWindow: ReceiveWindowControl;
  /** The logger names the instance, which names the bound port: set after the bind, before any call. */
  callLog: { logger?: Logger };
  /** What every per-client limit keys an IPv6 caller by: this many first bits of its address (--client-ipv6-prefix). */
  clientIpv6Prefix: number;
}

/** What the HTTP front door answers from: the handlers once the models have loaded, and whether the instance serves. */
interface ServingState {
  handlers: OcrHandlers | null;
  serving: boolean;
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  redactGrpcLogs();
  // The workers load the models while the ports are bound and the front door is built: only the
  // OcrService calls and health's SERVING wait for them (starting-service.ts).
  const starting = config.engine instanceof Promise ? config.engine : OcrEngine.create(config.engine);
  starting.catch(() => undefined); // awaited below; a failure then stops the start
  /** Closes the engine if it started; how many of its workers are still inside a native call. */
  const closeStarting = (): Promise<number> =>
    starting.then(
      async (started) => (await started.close()).stuck,
      () => 0,
    );
  let files: StartFiles;
  try {
    files = readStartFiles(config);
  } catch (err) {
    throw new StartFailure((err as Error).message, await closeStarting(), { cause: err });
  }
  const { certificates, access } = files;
  const live: LiveEngine = {};
  const uploads = new UploadGate();
  const metrics = new ServerMetrics(engineLoad(live, uploads));
  const wiring: Wiring = {
    config,
    live,
    uploads,
    metrics,
    access,
    receiveWindow: new ReceiveWindowControl(),
    callLog: {},
    clientIpv6Prefix: config.connections?.clientIpv6Prefix ?? DEFAULT_CLIENT_IPV6_PREFIX,
  };
  installIncrementalDecoder();
  const connections = new ConnectionGuard(
    config.connections ?? {},
    metrics.registry,
    createLogger(config.logLevel, { component: 'connections' }),
  );
  const { server, health } = grpcServer(wiring);
  const state: ServingState = { handlers: null, serving: false };
  let http: FastifyInstance | undefined;
  let metricsEndpoint: PlainHttpServer | undefined;
  /** Undoes what the start has done so far, the engine included, and fails it with `message`. */
  const failStart = async (err: unknown, message: string): Promise<never> => {
    certificates?.close();
    access?.close();
    server.forceShutdown();
    // Nothing to drain in a start that failed: a request still arriving would only hold it back.
    http?.server.closeAllConnections();
    await http?.close();
    metricsEndpoint?.close();
    throw new StartFailure(message, await closeStarting(), { cause: err });
  };
  let port: number;
  try {
    const credentials = certificates?.grpcCredentials() ?? ServerCredentials.createInsecure();
    port = await withHttp2Servers(
      guardHttp2(wiring, connections),
      () => bind(server, hostPort(config.host, config.port), credentials),
      HEADER_LIMIT_OPTIONS,
    );
  } catch (err) {
    return failStart(err, grpcBindFailure(config.host, config.port, (err as Error).message));
  }
  const instanceId = instanceIdOf(config, port);
  const logger = createLogger(config.logLevel, { instance: instanceId });
  wiring.callLog.logger = logger;
  if (certificates) certificates.logger = logger.child({ component: 'tls' });
  access?.setLogger(logger.child({ component: 'auth' }));
  warnIfExposed(logger, config.host, [
    tlsProtection(certificates !== undefined),
    tokenProtection(Boolean(access?.auth)),
    metricsPortProtection(certificates !== undefined, config.metricsPort !== undefined),
  ]);
  warnIfContainerLoopback(logger, config.host);
  let httpPort: number | undefined;
  if (config.httpPort !== undefined) {
    http = await httpFrontDoor(wiring, state, logger, certificates);
    connections.watch(http.server);
    try {
      httpPort = await listenFrontDoor(http, config.host, config.httpPort, certificates);
    } catch (err) {
      return failStart(err, httpListenFailure(config.host, config.httpPort, err, { portFlag: '--http-port, or --no-http' }));
    }
  }
  // Bound before the engine is awaited, as the other ports are: a port in use stops the start
  // before the instance turns SERVING and says it serves.
  if (config.metricsPort !== undefined) {
    try {
      metricsEndpoint = await serveMetrics(metrics.registry, access, connections, config.host, config.metricsPort, {
        paceMs: config.limits.refusalPaceMs,
        logger,
        clientIpv6Prefix: wiring.clientIpv6Prefix,
      });
    } catch (err) {
      return failStart(err, httpListenFailure(config.host, config.metricsPort, err, { what: 'metrics', portFlag: '--metrics-port' }));
    }
  }
  let ready: OcrEngine;
  try {
    ready = await starting;
  } catch (err) {
    return failStart(err, (err as Error).message);
  }
  live.engine = ready;
  logWorkerLoss(ready, logger);
  const stopTrims = returnFreedMemory(ready, uploads, metrics, config.limits);
  const ctx = { engine: ready, instanceId, serverVersion: SERVER_VERSION, logger, metrics, limits: config.limits };
  const cache = config.cache ? await openResultCache(config.cache, metrics, logger) : null;
  const served = cache ? withResultCache(createOcrHandlers(ctx), cache, ctx) : createOcrHandlers(ctx);
  server.removeService(OcrServiceService);
  server.addService(tolerantDecoding(OcrServiceService), createOcrService(ctx, served));
  state.handlers = served;
  state.serving = true;
  health.setStatus('', 'SERVING');
  health.setStatus(OCR_SERVICE, 'SERVING');
  const metricsPort = metricsEndpoint && (metricsEndpoint.address() as AddressInfo).port;
  logger.info(servingFields(config, ready, { port, httpPort, metricsPort, certificates, access, connections }), 'serving');
  logWorkerStart(ready, logger);

  const shutdown = drainThenStop({
    logger,
    ready,
    stopTaking: () => {
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(OCR_SERVICE, 'NOT_SERVING');
      state.serving = false;
    },
    drain: () => Promise.all([new Promise<void>((resolve) => server.tryShutdown(() => resolve())), http?.close()]),
    cancelRest: () => {
      server.forceShutdown();
      // An HTTP request still unanswered has its connection closed, as a gRPC call is cancelled.
      http?.server.closeAllConnections();
    },
    release: async () => {
      certificates?.close();
      access?.close();
      stopTrims();
    },
    closeAfterEngine: async () => cache?.close(),
  });

  return {
    host: config.host,
    port,
    ...(httpPort !== undefined ? { httpPort } : {}),
    instanceId,
    engine: ready,
    health,
    metrics,
    logger,
    ...(certificates ? { certificates } : {}),
    ...(access ? { access } : {}),
    connections,
    shutdown,
  };
}

interface StartFiles {
  certificates: ServerCertificates | undefined;
  access: AccessControl | undefined;
}

/**
 * Certificate, key and JWKS files are read before the models load: one that cannot serve stops the
 * start at once. Throws what is wrong with them, having closed what it opened.
 */
function readStartFiles(config: ServerConfig): StartFiles {
  const certificates = config.tls ? new ServerCertificates(config.tls, createLogger(config.logLevel, { component: 'tls' })) : undefined;
  try {
    return { certificates, access: config.access ? new AccessControl(config.access) : undefined };
  } catch (err) {
    certificates?.close();
    throw err;
  }
}

/** The instance's id: set, made from the bound port (port 0 picks it), or the host, port and a random suffix. */
function instanceIdOf(config: ServerConfig, port: number): string {
  return config.instanceId ?? config.instanceIdFor?.(port) ?? `${os.hostname()}-${port}-${randomBytes(3).toString('hex')}`;
}

/** Binds the HTTP front door; its port. HTTPS follows the certificate files from then on, as gRPC does through its credentials. */
async function listenFrontDoor(
  http: FastifyInstance,
  host: string,
  port: number,
  certificates: ServerCertificates | undefined,
): Promise<number> {
  await http.listen({ host, port });
  certificates?.follow(http.server as unknown as HttpsServer);
  return (http.server.address() as AddressInfo).port;
}

/** The engine's load as the metrics read it: nothing until the models have loaded. */
function engineLoad(live: LiveEngine, uploads: UploadGate): ServerLoad {
  return {
    inFlight: () => live.engine?.inFlight ?? 0,
    queuedTasks: () => live.engine?.queuedTasks ?? 0,
    memoryUsed: () => live.engine?.budget.usedBytes ?? 0,
    memoryBudget: () => live.engine?.budget.limitBytes ?? 0,
    workersLoaded: () => live.engine?.loadedWorkers ?? 0,
    workersBusy: () => live.engine?.busyWorkers ?? 0,
    estimatedWaitMs: (priority) => live.engine?.admission.estimatedWaitMs(priority) ?? 0,
    workersReplaced: () => live.engine?.stoppedWorkers ?? 0,
    workersCrashed: () => live.engine?.crashedWorkers ?? 0,
    uploadBytesHeld: () => uploads.heldBytes,
  };
}

/**
 * The gRPC server: its interceptors in their order, health (NOT_SERVING), reflection, and an OCR
 * service that answers UNAVAILABLE until the models have loaded (starting-service.ts).
 */
function grpcServer(w: Wiring): { server: Server; health: HealthImplementation } {
  const { config, access, metrics, live } = w;
  const server = new Server({
    // The first sees a call's metadata first: a call without a valid token is refused before the early refusal for load weighs it.
    interceptors: [
      openEndedCallLimit({ ...DEFAULT_OPEN_ENDED_LIMITS, clientIpv6Prefix: w.clientIpv6Prefix }),
      // Before any that logs or answers a call: they all name it by the id it fixes.
      requestIdInterceptor(),
      ...(access ? [accessInterceptor(access, metrics, () => w.callLog.logger!, config.limits.refusalPaceMs, w.clientIpv6Prefix)] : []),
      earlyRefusal(
        () => live.engine?.admission,
        metrics,
        config.limits,
        w.uploads,
        w.receiveWindow,
        () => w.callLog.logger,
      ),
      streamUploads(w.uploads, config.limits),
      // Sees the metadata of the calls let in, before their request is read.
      oversizeRefusal(config.limits.maxMessageBytes, metrics, () => w.callLog.logger),
    ],
    // The limit is on the images (image-limit.ts), as over HTTP: the request's other fields come on top.
    'grpc.max_receive_message_length': config.limits.maxMessageBytes + requestFramingBytes(config.limits.maxLinesPerRequest),
    'grpc.max_send_message_length': config.limits.maxMessageBytes,
    // No ping policy to set: grpc-js 1.14's server ACKs every client ping and has none to enforce
    // (no min_ping_interval, no too_many_pings GOAWAY, as gRPC core's and grpc-go's servers have),
    // so the SDK's keepalive pings (src/client/keepalive.ts) and any client's are never punished.
    // (grpc.keepalive_permit_without_calls is a client option in grpc-js: its server reads none.)
    'grpc.max_concurrent_streams': MAX_STREAMS_PER_CONNECTION,
  });
  const health = new HealthImplementation({ '': 'NOT_SERVING', [OCR_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  addReflection(server);
  server.addService(tolerantDecoding(OcrServiceService), startingService());
  return { server, health };
}

/** What each HTTP/2 server grpc-js makes gets before its first stream, in this order. */
function guardHttp2(w: Wiring, connections: ConnectionGuard): (http2Server: GrpcHttp2Server) => void {
  const { access } = w;
  return (http2Server) => {
    stampArrivals(http2Server);
    if (access) carryAuthorization(http2Server);
    w.receiveWindow.follow(http2Server);
    connections.watch(http2Server);
    refuseFromHeaders(http2Server, {
      admission: () => w.live.engine?.admission,
      checked: (path) => access?.concerns(grpcRequirement(path, access.protectInfo)) ?? false,
      metrics: w.metrics,
      paceMs: w.config.limits.refusalPaceMs,
      window: w.receiveWindow,
      logger: () => w.callLog.logger,
    });
    // After, so run first: the stream's headers reach the refusal above, and grpc-js, with a
    // well-formed timeout that does not overflow.
    const refusals = { metrics: w.metrics, logger: () => w.callLog.logger };
    screenTimeouts(http2Server, refusals);
    // After, so run first: a compressed request is not inflated by grpc-js.
    refuseCompressedRequests(http2Server, refusals);
    // Last, so run first: no other reads the headers of a call refused for their size.
    refuseLargeMetadata(http2Server, refusals);
  };
}

/** The HTTP front door, answering from this instance's handlers once they are set; not yet listening. */
function httpFrontDoor(
  w: Wiring,
  state: ServingState,
  logger: Logger,
  certificates: ServerCertificates | undefined,
): Promise<FastifyInstance> {
  const { config, access } = w;
  return buildHttpApp({
    backend: localBackend(
      () => state.handlers,
      w.metrics.registry,
      () => state.serving,
    ),
    maxImageBytes: config.limits.maxMessageBytes,
    maxLinesPerRequest: config.limits.maxLinesPerRequest,
    logger,
    metrics: new HttpMetrics(w.metrics.registry),
    version: SERVER_VERSION,
    ...(certificates ? { https: certificates.httpsOptions() } : {}),
    ...(access ? { access } : {}),
    ...(config.corsOrigins ? { corsOrigins: config.corsOrigins } : {}),
    uploads: w.uploads,
    weigh: (request) => {
      const admission = w.live.engine?.admission;
      return admission && weighRequest(admission, request);
    },
    holdRefusals: config.limits.refusalPaceMs > 0,
    refusalPaceMs: config.limits.refusalPaceMs,
    clientIpv6Prefix: w.clientIpv6Prefix,
  });
}

/**
 * Bounds the uploads by the memory budget, and hands freed memory back to the system during a
 * burst of uploads and once the instance is idle (memory-trim.ts). Returns what stops it.
 */
function returnFreedMemory(ready: OcrEngine, uploads: UploadGate, metrics: ServerMetrics, limits: ServiceLimits): () => void {
  const uploadShareBytes = ready.budget.limitBytes * limits.uploadMemoryShare;
  uploads.holdAtMost(uploadShareBytes);
  /** trimArenas, counted; `always`: counted where the C library could not trim too (what the engine kept was released). */
  const countedTrim = (when: 'idle' | 'uploads', always: boolean) => async (): Promise<boolean> => {
    const trimmed = await trimArenas();
    if (trimmed || always) metrics.memoryReleases.inc({ when });
    return trimmed;
  };
  const churnTrim = new UploadChurnTrim(uploadShareBytes * CHURN_TRIM_SHARE, CHURN_TRIM_EVERY_MS, countedTrim('uploads', false));
  uploads.onReceived = (bytes) => churnTrim.received(bytes);
  const idleTrim = new IdleMemoryTrim(
    IDLE_TRIM_MS,
    () => ready.inFlight === 0,
    () => {
      messageBuffers.drop();
      return ready.releaseIdleMemory();
    },
    countedTrim('idle', true),
  );
  ready.admission.onIdle = () => idleTrim.idle();
  // Requests refused before a call ran (not an image, too large) end no call: their uploads' end says it instead.
  uploads.onEmpty = () => idleTrim.idle();
  return () => {
    idleTrim.stop();
    churnTrim.stop();
  };
}

/** The start's `serving` line: where the instance listens, how it is protected, its workers, models and limits. */
function servingFields(
  config: ServerConfig,
  ready: OcrEngine,
  at: {
    port: number;
    httpPort: number | undefined;
    metricsPort: number | undefined;
    certificates: ServerCertificates | undefined;
    access: AccessControl | undefined;
    connections: ConnectionGuard;
  },
): Record<string, unknown> {
  const { certificates, access, connections } = at;
  const info = ready.info();
  return {
    host: config.host,
    port: at.port,
    tls: certificates ? (certificates.mutual ? 'mutual' : 'server') : 'off',
    auth: access?.auth ? access.auth.describe() : 'off',
    ...(access?.quotas ? { quota: access.quotas.defaults } : {}),
    ...(at.httpPort !== undefined ? { httpPort: at.httpPort } : {}),
    ...(at.metricsPort !== undefined ? { metricsPort: at.metricsPort } : {}),
    workers: info.workers,
    threadsPerWorker: info.threadsPerWorker,
    models: info.models,
    limits: {
      maxMessageBytes: config.limits.maxMessageBytes,
      maxPixels: info.limits.maxPixels,
      memoryBudgetBytes: info.limits.memoryBudgetBytes,
      maxWaitMs: info.limits.maxWaitMs,
      maxConnections: connections.limits.max,
      maxConnectionsPerClient: connections.limits.perClient,
      clientIpv6Prefix: connections.limits.clientIpv6Prefix,
    },
    cache: describeCache(config.cache),
  };
}

/** Logs each inference worker lost and replaced, from the moment the models have loaded. */
function logWorkerLoss(ready: OcrEngine, logger: Logger): void {
  ready.onWorkerLost = ({ reason, message, workers }) => {
    if (reason === 'respawn-failed')
      logger.error({ err: message, workers }, 'a replacement inference worker could not start: serving with the others');
    else if (reason === 'crash') logger.error({ err: message, workers }, 'an inference worker died: its call failed; replacing it');
    else logger.warn({ reason: message, workers }, 'an inference worker overran its task and was stopped; replacing it');
  };
}

/** Logs, after the `serving` line, when every inference worker has loaded and what calibration made of this machine. */
function logWorkerStart(ready: OcrEngine, logger: Logger): void {
  const { workers } = ready.info();
  ready.workersLoaded.then(
    () => logger.info({ workers, uptimeMs: Math.round(process.uptime() * 1000) }, 'all inference workers loaded'),
    (err: unknown) =>
      logger.error({ err, workers: ready.info().workers }, 'an inference worker could not load the models: serving with the others'),
  );
  void ready.calibrate().then((lineMs) => {
    if (lineMs === undefined) return;
    const estimateMs = {
      pageMpx: Math.round(ready.admission.workEstimate('page', 1)),
      line: Math.round(ready.admission.workEstimate('line', 1)),
    };
    logger.info({ calibrationLineMs: Math.round(lineMs * 10) / 10, estimateMs }, 'work estimates calibrated to this machine');
  });
}

/** The steps of a shutdown, in their order (drainThenStop). */
interface StopSteps {
  logger: Logger;
  ready: OcrEngine;
  /** Health NOT_SERVING, the HTTP front door's /readyz 503. */
  stopTaking: () => void;
  /** Resolves once every call in flight has ended and the ports are closed. */
  drain: () => Promise<unknown>;
  /** Ends the calls still running once the grace period is over. */
  cancelRest: () => void;
  /** What the instance holds besides the engine: files watched, timers. */
  release: () => Promise<void>;
  /** What must outlive the engine's last answer: the result cache. */
  closeAfterEngine: () => Promise<void>;
}

/** RunningServer.shutdown: once, however often asked; one grace period for all of it. */
function drainThenStop(steps: StopSteps): RunningServer['shutdown'] {
  const { logger, ready } = steps;
  let stopping: Promise<{ stuck: number }> | null = null;
  return (graceMs, beforeDrain) => {
    stopping ??= (async () => {
      // One grace period for all of it, deregistration included: a supervisor's kill comes after it.
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), graceMs)));
      steps.stopTaking();
      if (beforeDrain) await Promise.race([beforeDrain(), expired]);
      logger.info({ graceMs, inFlight: ready.inFlight }, 'draining');
      if ((await Promise.race([steps.drain(), expired])) === 'expired') {
        logger.warn({ inFlight: ready.inFlight }, 'grace period over: cancelling the calls still running');
        steps.cancelRest();
      }
      clearTimeout(timer);
      await steps.release();
      const closed = await ready.close();
      await steps.closeAfterEngine();
      logger.info(closed, 'stopped');
      return closed;
    })();
    return stopping;
  };
}
