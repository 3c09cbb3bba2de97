/**
 * `--metrics-port`: Prometheus text on http://HOST:PORT/metrics, beside the gRPC and HTTP ports.
 * With tokens on it asks for one as the HTTP port's /metrics does (ocr:admin, unless --no-protect-info),
 * and its refusals are held for the refusal pace and logged through the refusal log, as theirs are.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { AccessControl } from '../auth/access-control.js';
import { httpRequirement } from '../auth/access.js';
import { AuthFailure, authorizationValues, bearerChallenge } from '../auth/bearer.js';
import { refusalKind } from '../auth/refusal-log.js';
import { addressIdentity, DEFAULT_CLIENT_IPV6_PREFIX } from '../shared/client-address.js';
import type { ConnectionGuard } from './connection-guard.js';
import type { Logger } from './logger.js';
import { authRefusalHoldMs } from './refusal-pace.js';

/**
 * How a refusal is held and logged: the refusal pace (--refusal-pace-ms), the server's logger, and
 * --client-ipv6-prefix, which names its source (unset: 128, the whole address).
 */
export interface MetricsRefusals {
  paceMs: number;
  logger: Logger;
  clientIpv6Prefix?: number;
}

/** Every answer's: its text never taken for a page or a script (nosniff), as on the HTTP port. */
const NOSNIFF = { 'x-content-type-options': 'nosniff' } as const;
/** The refusals' and the other paths' answers: a line of text saying what to do. */
const TEXT = { ...NOSNIFF, 'content-type': 'text/plain; charset=utf-8' } as const;

/** Resolves once bound (unref'd: it keeps no process alive); rejects with the listen error. */
export async function serveMetrics(
  registry: Registry,
  access: AccessControl | undefined,
  connections: ConnectionGuard,
  host: string,
  port: number,
  refusals: MetricsRefusals,
): Promise<Server> {
  const need = httpRequirement('/metrics', access?.protectInfo ?? false);
  const http = createServer((req, res) => {
    // A scrape config's `params:` arrive as a query string, which only the path is matched without.
    if ((req.url ?? '').split('?', 1)[0] !== '/metrics') {
      res.writeHead(404, TEXT).end('try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...TEXT, allow: 'GET, HEAD' }).end(`${req.method} /metrics is not served; send GET\n`);
      return;
    }
    const arrived = performance.now();
    const authorization = authorizationValues(req.rawHeaders);
    const source = addressIdentity(req.socket.remoteAddress, refusals.clientIpv6Prefix ?? DEFAULT_CLIENT_IPV6_PREFIX);
    const admitted = access?.concerns(need)
      ? access.admit({ authorization, fallback: () => source }, need)
      : Promise.resolve({ release: () => undefined });
    admitted
      .then(async ({ release }) => {
        release();
        const text = await registry.metrics();
        res.writeHead(200, { ...NOSNIFF, 'content-type': registry.contentType }).end(text);
      })
      .catch((err: unknown) => {
        if (err instanceof AuthFailure) {
          const status = err.code === 'PERMISSION_DENIED' ? 403 : 401;
          access?.refusals.refused(refusals.logger, source, refusalKind(err), {
            route: '/metrics',
            status,
            code: err.code,
            message: err.message,
          });
          const answer = (): void =>
            void res.writeHead(status, { ...TEXT, 'www-authenticate': bearerChallenge(err) }).end(`${err.message}\n`);
          setTimeout(answer, authRefusalHoldMs(refusals.paceMs, undefined, performance.now() - arrived));
        } else res.writeHead(500, TEXT).end(String(err));
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
