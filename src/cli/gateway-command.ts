/** `ocr gateway`: the HTTP API and Web UI for a whole cluster, answered through the SDK. */
import type { AddressInfo } from 'node:net';
import { OcrClient } from '../client/index.js';
import { buildHttpApp } from '../http/app.js';
import { clusterBackend } from '../http/cluster-backend.js';
import { HttpMetrics } from '../http/http-metrics.js';
import { createLogger } from '../server/logger.js';
import { SERVER_VERSION } from '../shared/version.js';
import type { GatewayOptions } from './gateway-options.js';
import { clientTls } from './tls-options.js';

export async function gatewayCommand(opts: GatewayOptions): Promise<void> {
  const logger = createLogger(opts.logLevel, { gateway: opts.target });
  const tls = clientTls(opts);
  const client = new OcrClient(opts.target, { loadBalancing: opts.lb, deadlineMs: opts.deadlineMs, ...(tls ? { tls } : {}) });
  const backend = clusterBackend(client);
  const app = await buildHttpApp({
    backend,
    maxImageBytes: Math.round(opts.maxMessageMb * 1024 * 1024),
    maxLinesPerRequest: opts.maxLines,
    logger,
    metrics: new HttpMetrics(backend.registry),
    version: SERVER_VERSION,
  });
  await app.listen({ host: opts.host, port: opts.httpPort });
  const { port } = app.server.address() as AddressInfo;
  const stop = (signal: string): void => {
    logger.info({ signal, graceMs: opts.graceMs }, 'draining');
    backend.drain();
    const forced = setTimeout(() => process.exit(0), opts.graceMs);
    void app.close().then(() => {
      clearTimeout(forced);
      client.close();
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  logger.info({ host: opts.host, port, target: opts.target, lb: opts.lb }, 'gateway serving');
  process.stdout.write(`ocr gateway: listening on http://${opts.host}:${port} for ${opts.target}\n`);
}
