/**
 * Fastify's `frameworkErrors`: a request it cannot route, above all a path with a malformed
 * %-escape, answered in the API's shape like every other refusal rather than in Fastify's own.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { HttpFailure } from './failure.js';
import { failureJson } from './response-json.js';
import { clientPeer } from '../shared/client-address.js';
import { clipped } from '../shared/shown.js';
import { securityHeaders } from './security-headers.js';

export function routingFailure(err: FastifyError, path: string): HttpFailure {
  if (err.code === 'FST_ERR_BAD_URL') {
    return {
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: `the URL path ${clipped(path)} is malformed: a % must begin an escape of two hex digits; send % itself as %25`,
    };
  }
  const status = err.statusCode ?? 500;
  return { status, code: status < 500 ? 'INVALID_ARGUMENT' : 'INTERNAL', message: err.message };
}

/**
 * Hooks do not run for such a request: the answer carries its request id and the security headers
 * of every answer here (it echoes the path it was sent), and `count` counts it (app.ts).
 */
export function frameworkErrorAnswer(
  logger: Logger,
  count: (request: FastifyRequest, reply: FastifyReply) => void = () => undefined,
): (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  return (err, request, reply) => {
    count(request, reply);
    const failure = routingFailure(err, request.url.split('?')[0]!);
    const peer = clientPeer(request.socket.remoteAddress, request.socket.remotePort);
    logger.info({ requestId: request.id, status: failure.status, code: failure.code, message: failure.message, peer }, 'refused');
    void reply.header('x-request-id', request.id).headers(securityHeaders(request.url)).status(failure.status).send(failureJson(failure));
  };
}
