import { IPV6_BITS, ipv6Prefix, carriedIpv4 } from './ipv6-prefix.js';

/** `--client-ipv6-prefix`'s default: each IPv6 caller keyed by its whole address. */
export const DEFAULT_CLIENT_IPV6_PREFIX = IPV6_BITS;

/**
 * What a per-client limit keys a peer by: an IPv6 address that stands for an IPv4 host
 * (`::ffff:10.0.0.7`, `64:ff9b::10.0.0.7`) as its IPv4 one, since a NAT64 prefix holds every IPv4
 * caller; any other IPv6 address by its first `ipv6PrefixBits` (`2001:db8:1:2::/64`), or whole at
 * 128; anything else (IPv4, `unknown`) as it is.
 */
export function clientAddress(address: string | undefined, ipv6PrefixBits: number = DEFAULT_CLIENT_IPV6_PREFIX): string {
  if (address === undefined) return 'unknown';
  const ipv4 = carriedIpv4(address);
  if (ipv4 !== undefined) return ipv4;
  return ipv6PrefixBits < IPV6_BITS ? (ipv6Prefix(address, ipv6PrefixBits) ?? address) : address;
}

/** Who a caller is when only its address names it: what its quota counts and its refusals' log lines name. */
export const addressIdentity = (address: string | undefined, ipv6PrefixBits: number): string =>
  `addr:${clientAddress(address, ipv6PrefixBits)}`;

/** A client's key as its refusals name it to the client: its address, or the network it was keyed by. */
export const clientNamed = (key: string): string => (key.includes('/') ? `your network (${key})` : 'your address');

/** A peer as its log lines name it, address and port, as grpc-js's getPeer() names a gRPC caller. */
export const clientPeer = (address: string | undefined, port: number | undefined): string => `${clientAddress(address)}:${port ?? 0}`;
