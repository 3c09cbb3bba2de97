import { createServer } from 'node:http';
import type { ServeOptions } from '../cli/serve-options.js';
import { DEFAULT_LIMITS, startServer, type RunningServer } from './server.js';

/** Prometheus scrape endpoint beside the gRPC port. */
function serveMetrics(running: RunningServer, port: number, host: string): void {
  const http = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('try /metrics\n');
      return;
    }
    running.metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': running.metrics.registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  http.listen(port, host);
  http.unref();
}

/** `ocr serve`: run until SIGTERM/SIGINT, then drain within the grace period and exit 0. */
export async function serveCommand(opts: ServeOptions): Promise<void> {
  // Handlers first: until one is installed, a signal kills the process outright (no drain, no exit 0),
  // and a supervisor may signal as soon as it sees the listening line, or while models still load.
  let running: RunningServer | null = null;
  let stopRequested: string | null = null;
  const stop = (signal: string): void => {
    if (!running) {
      stopRequested = signal;
      return;
    }
    const server = running;
    server.logger.info({ signal }, 'shutting down');
    server.shutdown(opts.graceMs).then(
      () => process.exit(0),
      (err: unknown) => {
        server.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  running = await startServer({
    host: opts.host,
    port: opts.port,
    instanceId: opts.instanceId,
    logLevel: opts.logLevel,
    engine: {
      ...(opts.workers ? { workers: opts.workers } : {}),
      threadsPerWorker: opts.threads,
      ...(opts.models ? { manifestPath: opts.models } : {}),
      ...(opts.maxPixels ? { decodeLimits: { maxPixels: opts.maxPixels, minSide: 8 } } : {}),
    },
    limits: { ...DEFAULT_LIMITS, maxMessageBytes: Math.round(opts.maxMessageMb * 1024 * 1024) },
  });
  if (opts.metricsPort) serveMetrics(running, opts.metricsPort, opts.host);
  // One plain line on stdout: scripts and tests wait for it instead of sleeping.
  process.stdout.write(`ocr serve: listening on ${running.host}:${running.port} instance ${running.instanceId}\n`);
  if (stopRequested) stop(stopRequested);
}
