/**
 * Calls that stay open for as long as their client likes: health's Watch (a stream of status
 * changes) and reflection's (a stream of questions). Each holds a few kilobytes of the server, and
 * nothing bounded how many: one connection opened 100,000 Watch streams and took RSS from 267 to
 * 1,136 MB (docs/RESOURCES.md, "Connections"). So an instance keeps at most `total` of them open,
 * and `perClient` from one address; past either, a new one is answered RESOURCE_EXHAUSTED at once.
 * The calls that do work are bounded elsewhere: admission, the upload gate, the tile streams' limits.
 */
import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import { clientAddress, clientNamed, DEFAULT_CLIENT_IPV6_PREFIX } from '../shared/client-address.js';
import { Places } from './places.js';

const OPEN_ENDED = new Set([
  '/grpc.health.v1.Health/Watch',
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
]);

export interface OpenEndedLimits {
  /** Open at once on the instance. */
  total: number;
  /** Of those, from one client address. */
  perClient: number;
  /** An IPv6 client is keyed by this many first bits of its address (`--client-ipv6-prefix`, client-address.ts). */
  clientIpv6Prefix: number;
}

/** A watch per channel of each client, and a few grpcurl sessions, fit many times over. */
export const DEFAULT_OPEN_ENDED_LIMITS: OpenEndedLimits = { total: 1024, perClient: 64, clientIpv6Prefix: DEFAULT_CLIENT_IPV6_PREFIX };

export function openEndedCallLimit(limits: OpenEndedLimits = DEFAULT_OPEN_ENDED_LIMITS): ServerInterceptor {
  const open = new Places(limits.total, limits.perClient);
  return (descriptor, call) => {
    if (!OPEN_ENDED.has(descriptor.path)) return new ServerInterceptingCall(call);
    const client = clientAddress(call.getConnectionInfo().remoteAddress ?? call.getPeer(), limits.clientIpv6Prefix);
    let counted = false;
    const end = (): void => {
      if (!counted) return;
      counted = false;
      open.give(client);
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const full = open.take(client);
            if (full) {
              const whose =
                full === 'total' ? `${open.count} open on this server` : `${open.countOf(client)} open from ${clientNamed(client)}`;
              call.sendStatus({
                code: status.RESOURCE_EXHAUSTED,
                details:
                  `too many health watches and reflection streams (${whose}; the limits are ${limits.total} and ` +
                  `${limits.perClient} an address): close those you no longer read, or ask grpc.health.v1.Health/Check`,
              });
              return;
            }
            counted = true;
            pass(metadata);
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
