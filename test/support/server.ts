import { OcrClient } from '../../src/client/index.js';
import { DEFAULT_LIMITS, startServer, type RunningServer } from '../../src/server/server.js';
import type { ServiceLimits } from '../../src/server/call-context.js';
import type { EngineConfig } from '../../src/engine/engine.js';
import type { AccessSettings } from '../../src/auth/access-control.js';
import type { ResultCacheConfig } from '../../src/server/result-cache-config.js';

export interface TestServer {
  server: RunningServer;
  client: OcrClient;
  target: string;
  stop(): Promise<void>;
}

/** A real server on a free loopback port with the real models, and a client for it. */
export async function startTestServer(
  options: {
    limits?: Partial<ServiceLimits>;
    engine?: Partial<EngineConfig>;
    httpPort?: number;
    access?: AccessSettings;
    token?: string;
    corsOrigins?: string[];
    cache?: ResultCacheConfig;
  } = {},
): Promise<TestServer> {
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    logLevel: process.env.OCR_TEST_LOG ?? 'silent',
    engine: options.engine ?? {},
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    ...(options.httpPort !== undefined ? { httpPort: options.httpPort } : {}),
    ...(options.access ? { access: options.access } : {}),
    ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}),
    ...(options.cache ? { cache: options.cache } : {}),
  });
  const target = `127.0.0.1:${server.port}`;
  const client = new OcrClient(target, { deadlineMs: 120_000, ...(options.token !== undefined ? { token: options.token } : {}) });
  return {
    server,
    client,
    target,
    async stop() {
      client.close();
      await server.shutdown(1000);
      // A worker stopped inside a model call would abort mocha's process.exit (--exit) when the call returns.
      await server.engine.exited();
    },
  };
}
