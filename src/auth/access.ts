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
import { AuthFailure } from './bearer.js';
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

/**
 * What an HTTP caller called, as its refusals name it: the route with the one method it is served
 * on (`POST /api/ocr`), by an instance and alike by a gateway relaying its instances' refusals.
 */
export function httpCallName(route: string): string {
  // The OCR routes (/api/ocr, /api/ocr/lines) take POST; every other route GET.
  return `${route.startsWith('/api/ocr') ? 'POST' : 'GET'} ${route}`;
}

/** By Fastify's route pattern (request.routeOptions.url); undefined for a request no route matched. */
export function httpRequirement(route: string | undefined, protectInfo: boolean): Requirement {
  switch (route) {
    case '/api/ocr':
    case '/api/ocr/lines':
      return { scope: READ_SCOPE, quota: true, what: httpCallName(route) };
    case '/api/info':
      return { scope: protectInfo ? READ_SCOPE : null, quota: true, what: httpCallName(route) };
    case '/metrics':
      return { scope: protectInfo ? ADMIN_SCOPE : null, quota: false, what: httpCallName(route) };
    default:
      return { scope: null, quota: false, what: route ?? 'unknown route' };
  }
}

/** The refusal of a token without `scope`, which `what` (a method, a route) needs; `held` says what the token carries. */
export function missingScope(scope: string, what: string, held: string): AuthFailure {
  return new AuthFailure(
    'PERMISSION_DENIED',
    `missing scope ${scope}: ${what} needs it, and ${held}; send a token that carries ${scope}`,
    'insufficient_scope',
    scope,
  );
}

/** missingScope's wording, and an earlier version's without what to send (instances upgraded one by one behind a gateway). */
const MISSING_SCOPE = /^missing scope (\S+): .+? needs it, and (.+?)(?:; send a token that carries \S+)?$/;

/**
 * A refusal for a missing scope (missingScope's wording, `message`) as it reads for `what` in place
 * of what it named: an instance's refusal of a gRPC method, relayed by a gateway to its HTTP caller,
 * who called a route. Null for any other message.
 */
export function scopeRefusalFor(message: string, what: string): AuthFailure | null {
  const parts = MISSING_SCOPE.exec(message);
  return parts ? missingScope(parts[1]!, what, parts[2]!) : null;
}
