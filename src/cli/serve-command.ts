import { setTimeout as delay } from 'node:timers/promises';
import type { ServeOptions } from './serve-options.js';
import {
  advertiseHostFor,
  consulServiceId,
  instanceMeta,
  registerInstance,
  unreachableAdvertisement,
  type ConsulRegistration,
  type ConsulTls,
} from '../server/consul-registration.js';
import { glibc } from '../server/libc.js';
import { createLogger, exitAfterLogs, flushLogs, type Logger } from '../server/logger.js';
import type { RunningServer } from '../server/server.js';
import { StartFailure } from '../server/start-failure.js';
import { OcrEngine } from '../engine/index.js';
import { hostPort } from '../shared/host-port.js';
import { SERVER_VERSION } from '../shared/version.js';
import { consulAgentTls, consulEnvToken } from '../client/consul-agent.js';
import { accessSettings } from './auth-options.js';
import { consulAddress } from './consul-address.js';
import { failureLine } from './error-output.js';
import { FORCED_EXIT, onStopSignals, signalExitStatus, stopWhenStdinEnds, type StopSignal } from './stop-signals.js';
import { serverTls } from './tls-options.js';

/**
 * Exit with `code`. A worker inside a native model call would hold a normal exit until the call
 * returns and then abort the process (worker-phase.ts), so then the process ends at once through
 * glibc's _exit, once the loggers have written out what they hold (stdout and stderr are pipes or
 * files, written synchronously).
 */
function exitProcess(code: number, workersStuck: boolean): never {
  if (workersStuck) {
    flushLogs();
    glibc()?.exit(code);
  }
  process.exit(code);
}

/**
 * A start that failed: said as main.ts says any failure; where a worker is still inside a native
 * call, the process then ends through _exit (exitProcess) instead of running out of work.
 */
function failedStart(err: unknown, workersStuck: number): never {
  if (workersStuck === 0) throw err;
  process.stderr.write(failureLine(err));
  exitProcess(1, true);
}

/** How long shutdown waits for Consul to drop the instance before draining anyway. */
const DEREGISTER_BOUND_MS = 2000;
/** How long registration waits for the work estimates' calibration (OcrEngine.calibrate) before registering anyway. */
const REGISTRATION_CALIBRATION_WAIT_MS = 10_000;

/** Whether `work` (which never rejects) settles within `ms`. */
async function settledWithin(work: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const inTime = await Promise.race([work.then(() => true), expired]);
  clearTimeout(timer);
  return inTime;
}

/**
 * Deregisters: `drainMay` resolves once the deregistration is done or `boundMs` has passed, so that
 * a slow agent does not hold the drain; `done` once it is done, for the exit to wait on (a first
 * registration still unanswered at the signal is deregistered once answered: an exit before that left
 * the instance in Consul). A failure is logged, never fatal: the agent reaps the instance once its
 * check fails.
 */
function leaveConsul(registration: ConsulRegistration, logger: Logger, boundMs: number): { drainMay: Promise<void>; done: Promise<void> } {
  const done = registration.deregister().catch((err: unknown) => {
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot deregister from Consul; draining anyway');
  });
  const drainMay = settledWithin(done, boundMs).then((inTime) => {
    if (!inTime) logger.error({ boundMs }, 'Consul did not confirm the deregistration in time; draining anyway');
  });
  return { drainMay, done };
}

/** Consul settings from the options and the environment variables Consul's own tools read. */
function consulSettings(opts: ServeOptions): { address: string; token?: string; tls?: ConsulTls; advertiseHost: string } | null {
  const env = process.env;
  // A bad address fails now, before the models load.
  const address = consulAddress(opts.consul, env);
  if (!address) return null;
  // Read as a consul:// target reads them, and now: a wrong path should stop the start, not surface
  // at the first registration.
  const token = opts.consulToken || consulEnvToken(env);
  const tls: ConsulTls = consulAgentTls(undefined, env);
  return {
    address,
    ...(token ? { token } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    advertiseHost: opts.advertiseHost ?? advertiseHostFor(opts.host),
  };
}

/**
 * `ocr serve`: run until SIGTERM/SIGINT, then drain within the grace period and exit 0; a second
 * signal during the drain exits at once (stop-signals.ts).
 */
export async function serveCommand(opts: ServeOptions): Promise<void> {
  // Handlers first: until one is installed, a signal kills the process outright (no drain, no exit 0),
  // and a supervisor may signal as soon as it sees the listening line, or while models still load.
  let running: RunningServer | null = null;
  let registration: ConsulRegistration | null = null;
  let stopRequested: string | null = null;
  let stopping = false;
  const stop = (signal: string): void => {
    if (!running) {
      stopRequested = signal;
      return;
    }
    stopping = true;
    const server = running;
    const leaving = registration;
    const graceEnds = Date.now() + opts.graceMs;
    server.logger.info({ signal }, 'shutting down');
    let deregistered: Promise<void> = Promise.resolve();
    // NOT_SERVING first, then out of Consul (callers stop picking this instance), then drain.
    const beforeDrain = leaving
      ? () => {
          const leave = leaveConsul(leaving, server.logger, DEREGISTER_BOUND_MS);
          deregistered = leave.done;
          return leave.drainMay;
        }
      : undefined;
    server.shutdown(opts.graceMs, beforeDrain).then(
      async ({ stuck }) => {
        if (!(await settledWithin(deregistered, Math.max(0, graceEnds - Date.now())))) {
          server.logger.error(
            'the grace period ended before Consul confirmed the deregistration; the agent reaps the instance once its checks fail',
          );
        }
        exitAfterLogs(0, (status) => exitProcess(status, stuck > 0));
      },
      (err: unknown) => {
        server.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const force = (signal: StopSignal): void => {
    // Before the server runs there are no calls, and no logger of its own yet.
    const logger = running?.logger ?? createLogger(opts.logLevel, {});
    logger.warn({ signal, cut: running?.engine.inFlight ?? 0 }, FORCED_EXIT);
    // At once, even with a worker inside a model call (exitProcess), once that line is out: flushed
    // and ended straight away, it was lost whenever its own write was still in flight.
    exitAfterLogs(signalExitStatus(signal), (status) => exitProcess(status, true));
  };
  onStopSignals(stop, force);
  const stdinIgnored = stopWhenStdinEnds();

  const consul = consulSettings(opts);
  const tls = serverTls(opts);
  const access = accessSettings(opts);
  // The workers start loading the models now, while the server's modules load: each is about half
  // of a start with the model cache filled.
  const engine = OcrEngine.create({
    ...(opts.workers ? { workers: opts.workers } : {}),
    threadsPerWorker: opts.threads,
    ...(opts.detectorThreads ? { detectorThreads: opts.detectorThreads } : {}),
    ...(opts.recPrecision ? { recPrecision: opts.recPrecision } : {}),
    ...(opts.models ? { manifestPath: opts.models } : {}),
    ...(opts.modelCache ? { modelCacheDir: opts.modelCache } : {}),
    ...(opts.maxPixels ? { decodeLimits: { maxPixels: opts.maxPixels, minSide: 8 } } : {}),
    ...(opts.memoryBudgetMb ? { memoryBudgetBytes: opts.memoryBudgetMb * 1024 * 1024 } : {}),
    ...(opts.maxWaitMs ? { maxWaitMs: opts.maxWaitMs } : {}),
    ...(opts.taskCapMs ? { taskCapMs: opts.taskCapMs } : {}),
  });
  // Awaited by startServer; until then a failure must not count as unhandled.
  engine.catch(() => undefined);
  const { startServer, DEFAULT_LIMITS } = await import('../server/server.js').catch(async (err: unknown) => {
    await engine.then(
      (started) => started.close(),
      () => undefined,
    );
    throw err;
  });
  try {
    running = await startServer({
      host: opts.host,
      port: opts.port,
      instanceId: opts.instanceId,
      // With Consul, the instance id is the service ID, which names the port registered (advertised, else bound).
      ...(consul
        ? { instanceIdFor: (port: number) => consulServiceId(opts.serviceName, consul.advertiseHost, opts.advertisePort ?? port) }
        : {}),
      logLevel: opts.logLevel,
      engine,
      limits: { ...DEFAULT_LIMITS, maxMessageBytes: Math.round(opts.maxMessageMb * 1024 * 1024), refusalPaceMs: opts.refusalPaceMs },
      ...(opts.http ? { httpPort: opts.httpPort } : {}),
      ...(opts.corsOrigin ? { corsOrigins: opts.corsOrigin } : {}),
      cache: {
        backend: opts.cache,
        maxBytes: Math.round(opts.cacheMaxMb * 1024 * 1024),
        ttlMs: opts.cacheTtlS * 1000,
        redisTimeoutMs: opts.cacheTimeoutMs,
      },
      ...(tls ? { tls } : {}),
      ...(access ? { access } : {}),
      connections: { max: opts.maxConnections, perClient: opts.maxConnectionsPerClient, clientIpv6Prefix: opts.clientIpv6Prefix },
      ...(opts.metricsPort ? { metricsPort: opts.metricsPort } : {}),
    });
  } catch (err) {
    failedStart(err, err instanceof StartFailure ? err.workersStuck : 0);
  }
  if (stdinIgnored) running.logger.warn(stdinIgnored);
  if (consul && !stopRequested) {
    const started = running;
    const unreachable = unreachableAdvertisement(consul.advertiseHost, consul.address);
    if (unreachable) started.logger.warn({ advertiseHost: consul.advertiseHost, consul: consul.address }, unreachable);
    // Announced once its work estimates are this machine's: the SDK's least_request sends a new
    // instance calls first, and on the starting estimates of another machine it admitted a burst it
    // could not answer in time (docs/BENCHMARKS.md, "Starting estimates"). Bounded, since the
    // calibration waits for an idle pool, which direct callers may never leave it.
    void Promise.race([started.engine.calibrate(), delay(REGISTRATION_CALIBRATION_WAIT_MS, undefined, { ref: false })]).then(() => {
      if (stopping) return;
      registration = registerInstance({
        consulAddress: consul.address,
        ...(consul.token ? { token: consul.token } : {}),
        ...(consul.tls ? { tls: consul.tls } : {}),
        serviceName: opts.serviceName,
        serviceId: started.instanceId,
        advertiseHost: consul.advertiseHost,
        // What the agent and clients dial: behind a container's port mapping, not what this process bound.
        port: opts.advertisePort ?? started.port,
        ...(started.httpPort !== undefined ? { httpPort: opts.advertiseHttpPort ?? started.httpPort } : {}),
        ...(tls
          ? {
              instanceTls: {
                ...(opts.consulTlsServerName ? { serverName: opts.consulTlsServerName } : {}),
                ...(opts.consulTlsSkipVerify ? { skipVerify: true } : {}),
              },
            }
          : {}),
        tags: opts.tag ?? [],
        meta: instanceMeta(started.engine.info(), SERVER_VERSION),
        logger: started.logger,
      });
    });
  }
  // One plain line on stdout: scripts and tests wait for it instead of sleeping.
  const http = running.httpPort !== undefined ? ` http ${hostPort(running.host, running.httpPort)}` : '';
  process.stdout.write(`ocr serve: listening on ${hostPort(running.host, running.port)} instance ${running.instanceId}${http}\n`);
  if (stopRequested) stop(stopRequested);
}
