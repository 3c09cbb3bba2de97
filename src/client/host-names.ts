/**
 * The host name each address of a list of servers was resolved from (resolver-hosts.ts), so that TLS
 * checks each instance's certificate against its own entry's name (tls-credentials.ts): grpc-js hands
 * the credentials the channel's target, not the address dialled. It travels as a channel option, one
 * object per list (hostNamesFor), so that it stays equal from one resolution to the next and between
 * channels to the same list, and grpc-js keeps and shares their subchannels (it compares options by identity).
 */
import type { ChannelOptions } from '@grpc/grpc-js';

/** The channel option (a resolver attribute) that carries a HostNames. */
export const HOST_NAMES_OPTION = 'ocr.host_names';

const keyOf = (address: string, port: number): string => `${address}:${port}`;

export class HostNames {
  private names = new Map<string, string>();

  /** Replaces every name: `named`, each address (an IP, no brackets) with its entry's host name. */
  replace(named: { host: string; port: number; name: string }[]): void {
    this.names = new Map(named.map(({ host, port, name }) => [keyOf(host, port), name]));
  }

  /** The name of the entry `address`:`port` (a socket's remote end) was resolved from; undefined for an IP-literal entry. */
  nameOf(address: string | undefined, port: number | undefined): string | undefined {
    return address === undefined || port === undefined ? undefined : this.names.get(keyOf(address, port));
  }
}

/** The HostNames among `options`, where the channel's resolver gave one. */
export function hostNamesOf(options: ChannelOptions): HostNames | undefined {
  const value: unknown = options[HOST_NAMES_OPTION];
  return value instanceof HostNames ? value : undefined;
}

const byList = new Map<string, HostNames>();

/** The HostNames of `list` ("ocr-1:50051,ocr-2:50051"): the same for every resolver of it, whose lookups give it the same names. */
export function hostNamesFor(list: string): HostNames {
  const names = byList.get(list) ?? new HostNames();
  byList.set(list, names);
  return names;
}
