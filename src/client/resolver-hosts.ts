/**
 * A grpc-js resolver for a list of servers, "ocr-1:50051,ocr-2:50051,10.0.0.7:50051" (host-list.ts):
 * each name looked up as this machine looks names up (dns.lookup: /etc/hosts, then DNS, as a
 * container's service names resolve), every address of every name an endpoint of the balancing
 * policy (least_request, round_robin or pick_first). Looked up again when grpc-js asks (a
 * connection lost) and every 30 s (channel option `ocr.hosts_refresh_ms`), and passed on where that
 * changed anything, so that a name whose addresses change, or that did not resolve at first, is followed.
 *
 * The grpc-js resolver API is experimental: grpc-js is pinned to ~1.14 in package.json, as for
 * resolver-consul.ts.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { experimental, status, type ChannelOptions } from '@grpc/grpc-js';
import { NO_SERVER_REACHED } from './errors.js';
import { HOSTS_SCHEME, hostListOf, parseHostList, type HostPort } from './host-list.js';
import { HOST_NAMES_OPTION, hostNamesFor, type HostNames } from './host-names.js';

/** As grpc-js's own DNS resolver's least time between lookups. */
const DEFAULT_REFRESH_MS = 30_000;

/** Why no call can be made: `failures` ("ocr-1 (ENOTFOUND)") are every name of the list. */
export const namesUnresolved = (failures: string[]): string =>
  `${NO_SERVER_REACHED} (no name of the target resolved to an address: ${failures.join(', ')}): check that the names are ` +
  `spelled right and that this machine resolves them (getent hosts NAME; a container's service names resolve only on ` +
  `its network), then try again`;

export class HostsResolver implements experimental.Resolver {
  private readonly entries: HostPort[];
  private readonly refreshMs: number;
  /** Per entry, the addresses its last lookup that succeeded gave: one that fails (a DNS server down) keeps them. */
  private readonly known: HostPort[][];
  /** Between updateResolution and destroy: results are passed on. */
  private active = false;
  private looking = false;
  /** What was last passed on, since the last destroy: the same again is not (report()). */
  private reported: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  /** Whose name each address is, for TLS to check it against (host-names.ts). */
  private readonly names: HostNames;

  constructor(
    uri: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
    options: ChannelOptions,
  ) {
    this.entries = parseHostList(uri.path);
    this.names = hostNamesFor(uri.path);
    this.known = this.entries.map(() => []);
    const refresh: unknown = options['ocr.hosts_refresh_ms'];
    this.refreshMs = typeof refresh === 'number' && refresh > 0 ? refresh : DEFAULT_REFRESH_MS;
  }

  /** The first entry, as grpc-js's ipv4: resolver gives its first address: the authority, and the name TLS checks for IP-address entries. */
  static getDefaultAuthority(uri: experimental.GrpcUri): string {
    return uri.path.split(',')[0]!;
  }

  updateResolution(): void {
    this.active = true;
    if (!this.looking) void this.resolve();
  }

  destroy(): void {
    this.active = false;
    this.reported = null;
    clearTimeout(this.timer);
  }

  private async resolve(): Promise<void> {
    clearTimeout(this.timer);
    this.looking = true;
    const failures = await Promise.all(
      this.entries.map(async (entry, i) => {
        const failure = await this.lookUp(entry, i);
        // Each name as it resolves: one whose lookup hangs (a DNS server that does not answer) holds up none of the others.
        if (failure === null && this.active) this.reportAddresses();
        return failure;
      }),
    );
    this.looking = false;
    if (!this.active) return;
    if (!this.reportAddresses()) this.reportFailure(failures.flatMap((f) => f ?? []));
    // As grpc-js's own timers: the refresh alone keeps no process alive.
    this.timer = setTimeout(() => void this.resolve(), this.refreshMs).unref();
  }

  /** Looks `entry` up into known[index]; why it failed ("ocr-1 (ENOTFOUND)"), or null. */
  private async lookUp({ host, port }: HostPort, index: number): Promise<string | null> {
    if (isIP(host) !== 0) {
      this.known[index] = [{ host, port }];
      return null;
    }
    try {
      this.known[index] = (await lookup(host, { all: true })).map(({ address }) => ({ host: address, port }));
      return null;
    } catch (err) {
      return `${host} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
  }

  /**
   * Every address known, once each, passed on where it changed; false where none is known. The same
   * list again would make round_robin start its connections over, and the one that fails at once (an
   * instance down) ask for another resolution: a loop of thousands of lookups a second.
   */
  private reportAddresses(): boolean {
    const addresses = new Map<string, HostPort & { name: string }>();
    this.known.forEach((known, i) => {
      // An address two entries give is the first one's.
      for (const a of known) {
        const key = `${a.host}:${a.port}`;
        if (!addresses.has(key)) addresses.set(key, { ...a, name: this.entries[i]!.host });
      }
    });
    if (addresses.size === 0) return false;
    // Even where the addresses are the same: two names may have swapped theirs.
    this.names.replace([...addresses.values()].filter((a) => isIP(a.name) === 0));
    const key = [...addresses.keys()].join(',');
    if (key !== this.reported) {
      this.reported = key;
      const endpoints = [...addresses.values()].map(({ host, port }) => ({ addresses: [{ host, port }] }));
      this.listener(experimental.statusOrFromValue(endpoints), { [HOST_NAMES_OPTION]: this.names }, null, '');
    }
    return true;
  }

  /** No name resolved: why, naming each (`failures`), passed on where it changed. */
  private reportFailure(failures: string[]): void {
    const details = namesUnresolved(failures);
    if (details === this.reported) return;
    this.reported = details;
    this.listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details }), {}, null, details);
  }
}

let registered = false;

/** The target grpc-js is given for `target` (checked): a list under the hosts: scheme, its resolver registered; any other as it is. */
export function channelTarget(target: string): string {
  const hosts = hostListOf(target);
  if (!hosts) return target;
  if (!registered) experimental.registerResolver(HOSTS_SCHEME, HostsResolver);
  registered = true;
  return `${HOSTS_SCHEME}:${hosts.list}`;
}
