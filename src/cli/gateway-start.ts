/**
 * What `ocr gateway` runs: the HTTP API and Web UI for a whole cluster, answered through the SDK.
 * Loaded once the gateway's stop signals are taken (gateway-command.ts): its modules take about half
 * a second to load.
 */
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { machineCores, machineMemoryBytes } from '../shared/machine-resources.js';
import { AccessControl } from '../auth/access-control.js';
import { OcrClient } from '../client/index.js';
import { buildHttpApp } from '../http/app.js';
import { HeldBodies } from '../http/held-bodies.js';
import { IDLE_TRIM_MS, IdleMemoryTrim } from '../server/memory-trim.js';
import { clusterBackend } from '../http/cluster-backend.js';
import { ClusterReach } from '../http/cluster-reach.js';
import { HttpMetrics } from '../http/http-metrics.js';
import { exitAfterLogs, type Logger } from '../server/logger.js';
import { ServerCertificates } from '../server/server-tls.js';
import { UploadGate } from '../server/upload-gate.js';
import { ConnectionGuard } from '../server/connection-guard.js';
import { warnIfContainerLoopback } from '../server/container-loopback.js';
import { httpListenFailure } from '../server/bind-failure.js';
import { hostPort } from '../shared/host-port.js';
import { SERVER_VERSION } from '../shared/version.js';
import { gatewayChannelOptions } from './gateway-channel.js';
import { defaultBodyMemoryBytes, type GatewayOptions } from './gateway-options.js';
import { accessSettings, cliToken } from './auth-options.js';
import { gatewayHttps, warnIfClientCertOnly } from './gateway-https.js';
import { FORCED_EXIT, signalExitStatus, type StopSignal } from './stop-signals.js';
import { clientTls } from './tls-options.js';

/** A gateway built and not yet listening. */
export interface GatewayStart {
  /** Listens on --host and --http-port and says so on stdout; rejects with what to do where it cannot. */
  listen(): Promise<RunningGateway>;
  /** Lets go of what it opened, for a gateway stopped before it listened. */
  close(): void;
}

/** A listening gateway's answers to the stop signals (stop-signals.ts). */
export interface RunningGateway {
  /** Answers the requests in flight within --grace-ms, then exits 0. */
  drain(signal: StopSignal): void;
  /** Exits at once, cutting the requests in flight. */
  force(signal: StopSignal): void;
}

export async function startGateway(opts: GatewayOptions, logger: Logger): Promise<GatewayStart> {
  const tls = clientTls(opts);
  warnIfClientCertOnly(opts, logger);
  // Read first: files that cannot serve stop the start, naming the file, before anything else is opened.
  const httpsConfig = gatewayHttps(opts);
  const certificates = httpsConfig ? new ServerCertificates(httpsConfig, logger.child({ component: 'tls' })) : undefined;
  // The caller's token goes on to the instances (cluster-backend.ts); this one only where a caller sends none.
  const token = cliToken(opts);
  const maxImageBytes = Math.round(opts.maxMessageMb * 1024 * 1024);
  const bodyShare =
    opts.bodyMemoryMb !== undefined ? opts.bodyMemoryMb * 2 ** 20 : defaultBodyMemoryBytes(machineMemoryBytes(), machineCores());
  const client = new OcrClient(opts.target, {
    loadBalancing: opts.lb,
    deadlineMs: opts.deadlineMs,
    keepaliveTimeMs: opts.keepaliveTimeMs,
    keepaliveTimeoutMs: opts.keepaliveTimeoutMs,
    channelOptions: gatewayChannelOptions(maxImageBytes, opts.maxLines, bodyShare),
    ...(tls ? { tls } : {}),
    ...(token ? { token } : {}),
  });
  // Its own tokens and quotas, as serve's, checked before a request goes on.
  const settings = accessSettings(opts);
  const access = settings ? new AccessControl(settings, logger.child({ component: 'auth' })) : undefined;
  if (token && !access?.auth) {
    logger.warn(
      'the gateway sends its own --token for callers who send none, and takes no tokens itself: anyone who reaches it calls the instances as that token; require tokens here too (--api-keys, --jwks)',
    );
  }
  const backend = clusterBackend(client, {
    deadlineMs: opts.deadlineMs,
    ownToken: token !== undefined,
    reach: new ClusterReach(logger.child({ component: 'cluster' })),
    limits: { maxMessageBytes: maxImageBytes, maxLinesPerRequest: opts.maxLines },
  });
  const heldBodies = new HeldBodies(bodyShare, backend.registry);
  // What a burst of large bodies freed goes back to the system once the gateway holds none, as on an
  // instance, by the same trims; it keeps no pooled buffers or workers, so there is nothing to release first.
  const trim = new IdleMemoryTrim(
    IDLE_TRIM_MS,
    () => heldBodies.heldBytes === 0,
    async () => undefined,
  );
  heldBodies.onEmpty = () => trim.idle();
  const app = await buildHttpApp({
    backend,
    maxImageBytes,
    maxLinesPerRequest: opts.maxLines,
    logger,
    metrics: new HttpMetrics(backend.registry),
    version: SERVER_VERSION,
    ...(access ? { access } : {}),
    ...(opts.corsOrigin ? { corsOrigins: opts.corsOrigin } : {}),
    ...(certificates ? { https: certificates.httpsOptions() } : {}),
    // An instance's bound on the bodies it reads, with the memory budget an instance here would have,
    // and the same share for the bodies read and on their way to the cluster (each held about three
    // times over meanwhile: the body, the encoded request, its frames).
    uploads: new UploadGate({ heldBytes: bodyShare }),
    heldBodies,
    clientIpv6Prefix: opts.clientIpv6Prefix,
  });
  const connections = new ConnectionGuard(
    { max: opts.maxConnections, perClient: opts.maxConnectionsPerClient, clientIpv6Prefix: opts.clientIpv6Prefix },
    backend.registry,
    logger.child({ component: 'connections' }),
  );
  connections.watch(app.server);
  const close = (): void => {
    client.close();
    access?.close();
    certificates?.close();
  };
  const drain = (signal: StopSignal): void => {
    logger.info({ signal, graceMs: opts.graceMs, inFlight: backend.inFlight }, 'draining');
    backend.drain();
    const forced = setTimeout(() => {
      // As `ocr serve` says it: the requests still open lose their connections with the process.
      logger.warn({ graceMs: opts.graceMs }, 'grace period over: closing the requests still open');
      exitAfterLogs(0);
    }, opts.graceMs);
    void app.close().then(() => {
      clearTimeout(forced);
      close();
      logger.info({ signal }, 'stopped');
      exitAfterLogs(0);
    });
  };
  const force = (signal: StopSignal): void => {
    logger.warn({ signal, cut: backend.inFlight }, FORCED_EXIT);
    exitAfterLogs(signalExitStatus(signal));
  };
  return {
    close,
    async listen() {
      try {
        await app.listen({ host: opts.host, port: opts.httpPort });
      } catch (err) {
        close();
        throw new Error(httpListenFailure(opts.host, opts.httpPort, err), { cause: err });
      }
      certificates?.follow(app.server as unknown as HttpsServer);
      const { port } = app.server.address() as AddressInfo;
      warnIfContainerLoopback(logger, opts.host);
      logger.info(
        {
          host: opts.host,
          port,
          target: opts.target,
          lb: opts.lb,
          auth: access?.auth ? access.auth.describe() : 'off',
          https: certificates ? { serialNumber: certificates.current.serialNumber, validTo: certificates.current.validTo } : 'off',
          deadlineMs: opts.deadlineMs,
          graceMs: opts.graceMs,
          limits: {
            maxMessageBytes: maxImageBytes,
            maxLines: opts.maxLines,
            bodyMemoryBytes: bodyShare,
            maxConnections: connections.limits.max,
            maxConnectionsPerClient: connections.limits.perClient,
            clientIpv6Prefix: connections.limits.clientIpv6Prefix,
          },
        },
        'gateway serving',
      );
      process.stdout.write(
        `ocr gateway: listening on ${certificates ? 'https' : 'http'}://${hostPort(opts.host, port)} for ${opts.target}\n`,
      );
      return { drain, force };
    },
  };
}
