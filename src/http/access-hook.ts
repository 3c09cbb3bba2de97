/**
 * Tokens, scopes and quotas for HTTP (src/auth/access-control.ts): a hook on every request that
 * runs before its body is read, so that a refused upload costs nothing past its headers. 401 with
 * `WWW-Authenticate: Bearer …` (RFC 6750) for a missing or invalid token, 403 for a missing scope,
 * 429 with Retry-After over quota. An admitted request holds its place among its caller's open
 * calls until its response is finished or the client goes away.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AccessControl } from '../auth/access-control.js';
import { httpRequirement } from '../auth/access.js';
import { AuthFailure, authorizationValues, bearerChallenge } from '../auth/bearer.js';
import { socketPeerIdentity } from '../server/peer-identity.js';
import { clientAddress } from '../shared/client-address.js';
import { toHttpFailure } from './failure.js';
import { failureJson } from './response-json.js';

/** Every `authorization` header the request carried: Node keeps only the first in request.headers. */
export const requestAuthorization = (request: FastifyRequest): string[] => authorizationValues(request.raw.rawHeaders);

/** Who a request is from when no token names it: the client certificate's subject, else the peer's address. */
export function httpFallbackIdentity(request: FastifyRequest): string {
  const cert = socketPeerIdentity(request.raw.socket);
  if (cert) return `cert:${cert.subject}`;
  return `addr:${clientAddress(request.raw.socket.remoteAddress)}`;
}

/** The answer to an AuthFailure: 401 or 403, the challenge, the JSON error body. */
export function sendAuthFailure(reply: FastifyReply, failure: AuthFailure, answer = toHttpFailure(failure)): FastifyReply {
  return reply.status(answer.status).header('www-authenticate', bearerChallenge(failure)).send(failureJson(answer));
}

export function addAccessControl(app: FastifyInstance, access: AccessControl, logger: Logger): void {
  const protectInfo = access.protectInfo;
  app.addHook('onRequest', async (request, reply) => {
    const need = httpRequirement(request.routeOptions.url, protectInfo);
    if (!access.concerns(need)) return;
    try {
      const { release } = await access.admit(
        { authorization: requestAuthorization(request), fallback: () => httpFallbackIdentity(request) },
        need,
      );
      if (reply.raw.writableFinished || reply.raw.destroyed) release();
      else reply.raw.once('close', release);
    } catch (err) {
      if (!(err instanceof AuthFailure)) throw err;
      const answer = toHttpFailure(err);
      // The fields of every other HTTP refusal's line (app.ts): the HTTP status, the gRPC code.
      logger.info(
        { requestId: request.id, route: request.routeOptions.url, status: answer.status, code: answer.code, message: answer.message },
        'refused',
      );
      return sendAuthFailure(reply, err, answer);
    }
  });
}
