/**
 * A target that lists its servers, "ocr-1:50051,ocr-2:50051,10.0.0.7:50051,[fd00::7]:50051", as
 * containers name their instances (compose or Kubernetes service names) and Nginx lists an
 * upstream's: host names and IP literals mixed, each with its port. grpc-js alone would look the
 * whole list up as one host name and never find it; resolver-hosts.ts looks up each entry.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface HostPort {
  /** A host name, an IPv4 address, or an IPv6 address without its brackets. */
  host: string;
  port: number;
}

/** The scheme a list is given to grpc-js under, for resolver-hosts.ts. */
export const HOSTS_SCHEME = 'hosts';

/** Schemes whose targets hold commas of their own: grpc-js's address lists and Unix paths, and consul:'s query. */
const OTHER_SCHEME = /^(?:ipv[46]|consul|unix|unix-abstract):/;

/** A list given as a dns: target, with the DNS server it names (its authority), if any. */
const DNS_LIST = /^dns:(?:\/\/([^/]*)\/)?(.*)$/;

const HOST_NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/;

/**
 * The list `target` holds ("a:1,b:2", or as dns:///a:1,b:2) and the DNS server it names, or null
 * for a target that is no list (one name, an ipv4:/ipv6: list, a consul: target).
 */
export function hostListOf(target: string): { list: string; dnsServer: string | undefined } | null {
  if (!target.includes(',') || OTHER_SCHEME.test(target)) return null;
  const dns = DNS_LIST.exec(target);
  return dns ? { list: dns[2]!, dnsServer: dns[1] || undefined } : { list: target, dnsServer: undefined };
}

/** One entry of a list, or a RangeError that names it and says how to write it. */
function parseEntry(entry: string, index: number): HostPort {
  if (entry === '') throw new RangeError(`entry ${index + 1} is empty (a comma too many?): list each server once as HOST:PORT`);
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(entry);
  const colon = entry.lastIndexOf(':');
  const [host, port] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : colon < 0
      ? [entry, undefined]
      : [entry.slice(0, colon), entry.slice(colon + 1)];
  if (!bracketed && (isIPv6(host) || isIPv6(entry))) {
    throw new RangeError(`entry "${entry}" holds an IPv6 address without brackets: write it [ADDRESS]:PORT`);
  }
  const known = bracketed ? isIPv6(host) : isIPv4(host) || HOST_NAME.test(host);
  if (!known) throw new RangeError(`entry "${entry}" is no HOST:PORT (a host name, an IPv4 address or [an IPv6 address], and a port)`);
  if (port === undefined || !/^\d+$/.test(port)) {
    const bare = bracketed ? `[${host}]` : host;
    throw new RangeError(`entry "${entry}" names no port: give each server's gRPC port, e.g. "${bare}:50051"`);
  }
  if (!(Number(port) >= 1 && Number(port) <= 65535)) {
    throw new RangeError(`entry "${entry}" names port ${port}, outside 1 to 65535: give the servers' gRPC port, e.g. 50051`);
  }
  return { host, port: Number(port) };
}

/** The servers `list` names, or a RangeError for its first bad entry. */
export function parseHostList(list: string): HostPort[] {
  return list.split(',').map(parseEntry);
}
