/**
 * The target strings a client refuses at construction: ones grpc-js would take and then fail every
 * call on (a URL's scheme read as a host name: "Name resolution failed"), or quietly dial elsewhere
 * than meant (a host without a port: gRPC's default, 443, where a plaintext client means its servers'
 * port; with TLS, 443 is the port of a TLS front such as an ingress, and is taken).
 */

import { parseConsulTarget } from './consul-target.js';
import { hostListOf, parseHostList } from './host-list.js';

/** The forms a target takes, for the error messages. */
const FORMS = '"host:port", "host:port,host:port,…", "dns:///host:port", "ipv4:ADDR:PORT,…" or "consul://AGENT_HOST:PORT/SERVICE"';

/** A consul target as grpc-js reads one: its authority (the agent, maybe none) between "//" and "/", then the service. */
const CONSUL_TARGET = /^consul:\/\/[^/]*\/(.*)$/;

const CONSUL_FORM =
  'consul://AGENT_HOST:PORT/SERVICE[?tag=T&dc=D], or consul:///SERVICE for the agent CONSUL_HTTP_ADDR names (else 127.0.0.1:8500)';

/**
 * Throws a RangeError for a consul: target its resolver cannot read: grpc-js would throw the
 * resolver's plain Error from deep inside the channel, naming a path it parsed ("//127.0.0.1:8500"
 * for a target without its service) rather than the target.
 */
function checkConsulTarget(target: string): void {
  const service = CONSUL_TARGET.exec(target)?.[1];
  if (!service) throw new RangeError(`target "${target}" names no Consul service as grpc-js reads it: write ${CONSUL_FORM}`);
  try {
    parseConsulTarget('', service);
  } catch (err) {
    throw new RangeError(`target "${target}": ${(err as Error).message}`, { cause: err });
  }
}

/** A URL of a scheme people reach for; gRPC targets have none of these. */
const URL_SCHEME = /^(https?|grpcs?):\/\/(.*)$/i;

/** A host name or address alone: no scheme, no port. */
const BARE_HOST = /^(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*|\[[0-9A-Fa-f:.]+\])$/;

/** The ports a target names: of HOST:PORT and dns:[//AUTHORITY/]HOST:PORT, and of each address of an ipv4: or ipv6: list. */
function namedPorts(target: string): string[] {
  const list = /^ipv[46]:(.*)$/.exec(target)?.[1];
  const addresses = list === undefined ? [target.replace(/^dns:(?:\/\/[^/]*\/)?/, '')] : list.split(',');
  return addresses.flatMap((address) => /^(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]+):(\d+)$/.exec(address)?.[1] ?? []);
}

/**
 * Throws a RangeError for a list of servers ("a:50051,b:50051") that resolver-hosts.ts cannot read,
 * naming the entry: grpc-js would fail every call on it with the resolver's plain Error.
 */
function checkHostList(target: string): void {
  const hosts = hostListOf(target);
  if (!hosts) return;
  if (hosts.dnsServer !== undefined) {
    throw new RangeError(
      `target "${target}" names a DNS server (${hosts.dnsServer}) for a list of servers, whose names are looked up as this machine looks names up: write the list alone, "${hosts.list}"`,
    );
  }
  try {
    parseHostList(hosts.list);
  } catch (err) {
    throw new RangeError(`target "${target}": ${(err as Error).message}`, { cause: err });
  }
}

/** `target`, or a RangeError that says how to write it; `tls`: whether the client connects with TLS. */
export function checkTarget(target: string, tls: boolean): string {
  if (typeof target !== 'string' || target.length === 0) {
    throw new RangeError(`target must be a gRPC target such as ${FORMS}, got ${JSON.stringify(target) ?? String(target)}`);
  }
  if (/\s/.test(target)) throw new RangeError(`target "${target}" holds white space; a gRPC target is ${FORMS}`);
  const url = URL_SCHEME.exec(target);
  if (url) {
    const secure = /s$/i.test(url[1]!) ? " with the tls option (the CLI's --tls)" : '';
    throw new RangeError(
      `target "${target}" is a URL; a gRPC target has no ${url[1]}:// : use "${url[2]!.replace(/\/+$/, '')}"${secure}, or another of ${FORMS}`,
    );
  }
  if (target.startsWith('consul:')) checkConsulTarget(target);
  checkHostList(target);
  if (BARE_HOST.test(target) && !tls) {
    throw new RangeError(
      `target "${target}" names no port (gRPC would dial 443, where a plaintext client finds no OCR server): add the servers' gRPC port, e.g. "${target}:50051", or connect with the tls option (the CLI's --tls) to a TLS front on 443`,
    );
  }
  // grpc-js takes any digits, and every call then waits for a connection that cannot be made.
  const outside = namedPorts(target).find((port) => !(Number(port) >= 1 && Number(port) <= 65535));
  if (outside !== undefined) {
    throw new RangeError(`target "${target}" names port ${outside}, outside 1 to 65535: give the servers' gRPC port, e.g. 50051`);
  }
  return target;
}
