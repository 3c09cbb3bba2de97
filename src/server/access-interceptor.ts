/**
 * Tokens, scopes and quotas for gRPC (src/auth/access-control.ts), as the first interceptor of an
 * OCR call (open-ended-calls.ts, before it, bounds only health watches and reflection): a call
 * without a valid token, without the scope its method needs, or over its caller's quota is
 * answered from its headers (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED with
 * grpc-retry-pushback-ms), before the early refusal for load looks at it and before a byte of its
 * request is read, held for the refusal pace first (refusal-pace.ts), as a refusal for load is: a
 * client looping on a bad token or past its quota cannot spin. Both are logged through the refusal
 * log (src/auth/refusal-log.ts), which a flood of them cannot flood.
 * Health is never looked at (access.ts). An admitted call holds its place in the caller's quota of
 * open calls until its status is sent or it is cancelled. The token is taken out of the metadata
 * the handlers see.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import { ServerInterceptingCall, type ServerInterceptingCallInterface, type ServerInterceptor } from '@grpc/grpc-js';
import { AuthFailure, authorizationValues } from '../auth/bearer.js';
import { isOverQuota, overQuotaKind } from '../auth/quota.js';
import { refusalKind } from '../auth/refusal-log.js';
import { OcrError } from '../shared/errors.js';
import { addressIdentity } from '../shared/client-address.js';
import type { AccessControl } from '../auth/access-control.js';
import { grpcRequirement } from '../auth/access.js';
import { asMetadataValue } from '../shared/metadata-value.js';
import { OCR_SERVICE } from '../shared/service-name.js';
import type { GrpcHttp2Server } from './http2-servers.js';
import type { Logger } from './logger.js';
import type { ServerMetrics } from './metrics.js';
import { peerIdentity } from './peer-identity.js';
import { statusName, toStatus } from './status.js';
import { deadlineMs, requestId } from './call-context.js';
import { authRefusalHoldMs, refusalHoldMs } from './refusal-pace.js';
import { keepTokenCheck, revokedMidStream } from './stream-token.js';
import { keepQuotaCharges } from './call-quota.js';

/**
 * Who a call is from when no token names it: the client certificate's subject, else the peer's
 * address (over IPv6, its first `clientIpv6Prefix` bits).
 */
export function fallbackIdentity(call: ServerInterceptingCallInterface, clientIpv6Prefix: number): string {
  const cert = peerIdentity(call);
  if (cert) return `cert:${cert.subject}`;
  return addressIdentity(call.getConnectionInfo().remoteAddress ?? call.getPeer(), clientIpv6Prefix);
}

/**
 * The `authorization` header fields of each stream as the check must see them. Node's HTTP/2 keeps
 * the first of repeated fields and drops the rest: a call carrying two would be judged by the first
 * alone, where a proxy in front may have judged the last; joined, as HTTP joins repeated fields,
 * they reach the check as several values and are refused, as over HTTP/1.1. grpc-js drops a value
 * with a character metadata cannot carry (a tab, non-ASCII), logging it, and the call was refused
 * as sending no token; made carriable, it is refused as malformed, as over HTTP.
 */
export function carryAuthorization(server: GrpcHttp2Server): void {
  server.prependListener('stream', (_stream: unknown, headers: IncomingHttpHeaders, _flags: number, raw: readonly string[] = []) => {
    const values = authorizationValues(raw);
    if (values.length > 0) headers.authorization = asMetadataValue(values.join(', '));
  });
}

/** How long the refusal `err` of a call that arrived `waitedMs` ago and has `leftMs` left is held (refusal-pace.ts). */
function holdMs(err: unknown, paceMs: number, leftMs: number | undefined, waitedMs: number): number {
  if (err instanceof AuthFailure) return authRefusalHoldMs(paceMs, leftMs, waitedMs);
  return err instanceof OcrError ? refusalHoldMs(paceMs, err.retryAfterMs, leftMs, waitedMs) : 0;
}

/**
 * `logger` is asked at each refusal: the server's is made once its port is bound, before any call.
 * `paceMs`: the refusal pace (--refusal-pace-ms); `clientIpv6Prefix`: --client-ipv6-prefix.
 */
export function accessInterceptor(
  access: AccessControl,
  metrics: ServerMetrics,
  logger: () => Logger,
  paceMs: number,
  clientIpv6Prefix: number,
): ServerInterceptor {
  const protectInfo = access.protectInfo;
  return (descriptor, call) => {
    const need = grpcRequirement(descriptor.path, protectInfo);
    if (!access.concerns(need)) return new ServerInterceptingCall(call);
    const method = descriptor.path.startsWith(`/${OCR_SERVICE}/`) ? descriptor.path.slice(OCR_SERVICE.length + 2) : null;
    // grpc-js makes the interceptors in the turn the stream came: a refusal is timed from here, the token check included.
    const arrived = performance.now();
    let release: (() => void) | null = null;
    let ended = false;
    /** The call's x-request-id, or a new id: what its refusal's line and the client's logs name it by. */
    let id: string | undefined;
    const end = (): void => {
      ended = true;
      release?.();
      release = null;
    };
    const refuse = (err: unknown): void => {
      const { code, details, metadata } = toStatus(err);
      const fields = {
        requestId: id,
        method: method ?? descriptor.path,
        code: statusName(code),
        message: details,
        ms: Math.round(performance.now() - arrived),
        peer: call.getPeer(),
      };
      if (err instanceof AuthFailure) access.refusals.refused(logger(), fallbackIdentity(call, clientIpv6Prefix), refusalKind(err), fields);
      else if (isOverQuota(details))
        access.refusals.refused(logger(), fallbackIdentity(call, clientIpv6Prefix), overQuotaKind(details), fields, 'info');
      else logger().info(fields, 'refused');
      end();
      const answer = (): void => {
        if (method) metrics.answeredNotOk(method, statusName(code), arrived);
        call.sendStatus({ code, details, metadata });
      };
      const deadline = deadlineMs(call.getDeadline());
      const hold = holdMs(err, paceMs, deadline === undefined ? undefined : deadline - Date.now(), performance.now() - arrived);
      if (hold > 0) setTimeout(answer, hold);
      else answer();
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            id = requestId(metadata);
            const authorization = metadata.get('authorization');
            metadata.remove('authorization');
            if (descriptor.requestStream && need.scope !== null && access.auth) {
              keepTokenCheck(metadata, () =>
                access.recheck(authorization, need).catch((err: unknown) => {
                  throw err instanceof AuthFailure ? revokedMidStream(err) : err;
                }),
              );
            }
            access.admit({ authorization, fallback: () => fallbackIdentity(call, clientIpv6Prefix) }, need).then((admitted) => {
              if (ended) {
                admitted.release();
                return;
              }
              release = admitted.release;
              keepQuotaCharges(metadata, admitted.charges);
              pass(metadata);
            }, refuse);
          },
          onCancel: end,
        }),
      sendStatus: (sent, next) => {
        end();
        next(sent);
      },
    });
  };
}
