/**
 * Tokens, scopes and quotas for HTTP (src/auth/access-control.ts): a hook on every request that
 * runs before its body is read, so that a refused upload costs nothing past its headers. Its
 * refusals (AuthFailure: 401 or 403 with `WWW-Authenticate: Bearer …`, RFC 6750; 429 with
 * Retry-After over quota) go to the app's error handler, which logs, holds and answers them as it
 * does every refusal, and closes the connection of a body it will not read (app.ts). An admitted
 * request holds its place among its caller's open calls until its response is finished or the
 * client goes away.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessControl } from '../auth/access-control.js';
import { httpRequirement } from '../auth/access.js';
import { authorizationValues } from '../auth/bearer.js';
import { socketPeerIdentity } from '../server/peer-identity.js';
import { addressIdentity } from '../shared/client-address.js';

/** Every `authorization` header the request carried: Node keeps only the first in request.headers. */
export const requestAuthorization = (request: FastifyRequest): string[] => authorizationValues(request.raw.rawHeaders);

/**
 * Who a request is from when no token names it: the client certificate's subject, else the peer's
 * address (over IPv6, its first `clientIpv6Prefix` bits).
 */
export function httpFallbackIdentity(request: FastifyRequest, clientIpv6Prefix: number): string {
  const cert = socketPeerIdentity(request.raw.socket);
  if (cert) return `cert:${cert.subject}`;
  return addressIdentity(request.raw.socket.remoteAddress, clientIpv6Prefix);
}

export function addAccessControl(app: FastifyInstance, access: AccessControl, clientIpv6Prefix: number): void {
  const protectInfo = access.protectInfo;
  app.addHook('onRequest', async (request, reply) => {
    const need = httpRequirement(request.routeOptions.url, protectInfo);
    if (!access.concerns(need)) return;
    const { release } = await access.admit(
      { authorization: requestAuthorization(request), fallback: () => httpFallbackIdentity(request, clientIpv6Prefix) },
      need,
    );
    if (reply.raw.writableFinished || reply.raw.destroyed) release();
    else reply.raw.once('close', release);
  });
}
