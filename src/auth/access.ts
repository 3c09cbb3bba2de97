/**
 * Who may call what, for gRPC and HTTP alike: what each method or route needs (a scope, or
 * nothing), and whether it counts against the caller's quota.
 *
 * - Recognition (Recognize, RecognizeLines, RecognizeTiles, /api/ocr, /api/ocr/lines): ocr:read, quota.
 * - Health (grpc.health.v1, /healthz, /readyz): always open, never counted: Consul and probes carry no token.
 * - Information: GetServerInfo and /api/info (ocr:read, quota), server reflection (ocr:read) and
 *   /metrics (ocr:admin) need a token while `protectInfo` is on (the default whenever tokens are):
 *   they name model files, limits, the host name inside instance ids and every caller's traffic.
 *   `--no-protect-info` opens them, for a Prometheus or grpcurl without a token.
 * - The Web UI's files, /docs and /openapi.json: open (static, nothing of the instance in them).
 * - Any other gRPC method: ocr:read, so that a service added later is closed until it is placed here.
 */
import { OCR_SERVICE } from '../shared/service-name.js';
import { ADMIN_SCOPE, READ_SCOPE, type Scope } from './scopes.js';

export interface Requirement {
  /** The scope a token must carry; null: no token needed. */
  scope: Scope | null;
  /** Whether the call counts against its caller's quota. */
  quota: boolean;
  /** What the refusal names: the method or route. */
  what: string;
}

const RECOGNITION = new Set(['Recognize', 'RecognizeLines', 'RecognizeTiles']);

export function grpcRequirement(path: string, protectInfo: boolean): Requirement {
  const [, service = '', method = ''] = path.split('/');
  if (service === 'grpc.health.v1.Health') return { scope: null, quota: false, what: method };
  if (service === OCR_SERVICE) {
    if (RECOGNITION.has(method)) return { scope: READ_SCOPE, quota: true, what: method };
    if (method === 'GetServerInfo') return { scope: protectInfo ? READ_SCOPE : null, quota: true, what: method };
  }
  if (service.startsWith('grpc.reflection.')) return { scope: protectInfo ? READ_SCOPE : null, quota: false, what: 'server reflection' };
  return { scope: READ_SCOPE, quota: true, what: path };
}

/** By Fastify's route pattern (request.routeOptions.url); undefined for a request no route matched. */
export function httpRequirement(route: string | undefined, protectInfo: boolean): Requirement {
  switch (route) {
    case '/api/ocr':
    case '/api/ocr/lines':
      return { scope: READ_SCOPE, quota: true, what: route };
    case '/api/info':
      return { scope: protectInfo ? READ_SCOPE : null, quota: true, what: route };
    case '/metrics':
      return { scope: protectInfo ? ADMIN_SCOPE : null, quota: false, what: route };
    default:
      return { scope: null, quota: false, what: route ?? 'unknown route' };
  }
}
