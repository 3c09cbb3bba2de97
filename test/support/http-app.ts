/**
 * The HTTP front door (src/http/app.ts) alone on a loopback port, over a backend that serves only
 * what a test gives it (anything else rejects), for tests of what the app itself does: timeouts,
 * refusals, bounds.
 */
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { buildHttpApp, type HttpAppOptions } from '../../src/http/app.js';
import type { OcrBackend } from '../../src/http/backend.js';
import { HttpMetrics } from '../../src/http/http-metrics.js';

export interface TestHttpApp {
  port: number;
  close: () => Promise<void>;
}

const notServed = (): Promise<never> => Promise.reject(new Error('no request should reach this part of the backend'));

/** `backend`: the parts served; `options`: the app's, over defaults of 4 MiB images and 4 lines a request. */
export async function listenHttpApp(
  backend: Partial<OcrBackend> = {},
  options: Partial<Omit<HttpAppOptions, 'backend'>> = {},
): Promise<TestHttpApp> {
  const app = await buildHttpApp({
    backend: { recognize: notServed, recognizeLines: notServed, serverInfo: notServed, ready: () => true, metrics: notServed, ...backend },
    maxImageBytes: 4 * 1024 * 1024,
    maxLinesPerRequest: 4,
    logger: pino({ level: 'silent' }),
    metrics: new HttpMetrics(new Registry()),
    version: 'test',
    ...options,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
}
