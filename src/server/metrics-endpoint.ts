/**
 * `--metrics-port`: Prometheus text on http://HOST:PORT/metrics, beside the gRPC and HTTP ports.
 * With tokens on it asks for one as the HTTP port's /metrics does (ocr:admin, unless --no-protect-info).
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { AccessControl } from '../auth/access-control.js';
import { httpRequirement } from '../auth/access.js';
import { AuthFailure, authorizationValues, bearerChallenge } from '../auth/bearer.js';
import type { ConnectionGuard } from './connection-guard.js';

/** Resolves once bound (unref'd: it keeps no process alive); rejects with the listen error. */
export async function serveMetrics(
  registry: Registry,
  access: AccessControl | undefined,
  connections: ConnectionGuard,
  host: string,
  port: number,
): Promise<Server> {
  const need = httpRequirement('/metrics', access?.protectInfo ?? false);
  const http = createServer((req, res) => {
    // A scrape config's `params:` arrive as a query string, which only the path is matched without.
    if ((req.url ?? '').split('?', 1)[0] !== '/metrics') {
      res.writeHead(404).end('try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end(`${req.method} /metrics is not served; send GET\n`);
      return;
    }
    const authorization = authorizationValues(req.rawHeaders);
    const admitted = access?.concerns(need)
      ? access.admit({ authorization, fallback: () => `addr:${req.socket.remoteAddress ?? 'unknown'}` }, need)
      : Promise.resolve({ release: () => undefined });
    admitted
      .then(async ({ release }) => {
        release();
        const text = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(text);
      })
      .catch((err: unknown) => {
        if (err instanceof AuthFailure) {
          res.writeHead(err.code === 'PERMISSION_DENIED' ? 403 : 401, { 'www-authenticate': bearerChallenge(err) }).end(`${err.message}\n`);
        } else res.writeHead(500).end(String(err));
      });
  });
  connections.watch(http);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  http.unref();
  return http;
}
