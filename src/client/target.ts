/**
 * The target strings a client refuses at construction: ones grpc-js would take and then fail every
 * call on (a URL's scheme read as a host name: "Name resolution failed"), or quietly dial elsewhere
 * than meant (a host without a port: gRPC's default, 443, where a plaintext client means its servers'
 * port; with TLS, 443 is the port of a TLS front such as an ingress, and is taken).
 */

/** The forms a target takes, for the error messages. */
const FORMS = '"host:port", "dns:///host:port", "ipv4:ADDR:PORT,…" or "consul://AGENT_HOST:PORT/SERVICE"';

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

/** `target`, or a RangeError that says how to write it; `tls`: whether the client connects with TLS. */
export function checkTarget(target: string, tls: boolean): string {
  if (typeof target !== 'string' || target.length === 0) {
    throw new RangeError(`target must be a gRPC target such as ${FORMS}, got ${JSON.stringify(target) ?? String(target)}`);
  }
  if (/\s/.test(target)) throw new RangeError(`target "${target}" holds white space; a gRPC target is ${FORMS}`);
  const url = URL_SCHEME.exec(target);
  if (url) {
    const secure = /s$/i.test(url[1]!) ? ' with the tls option' : '';
    throw new RangeError(
      `target "${target}" is a URL; a gRPC target has no ${url[1]}:// : use "${url[2]!.replace(/\/+$/, '')}"${secure}, or another of ${FORMS}`,
    );
  }
  if (BARE_HOST.test(target) && !tls) {
    throw new RangeError(
      `target "${target}" names no port (gRPC would dial 443, where a plaintext client finds no OCR server): add the servers' gRPC port, e.g. "${target}:50051", or connect with the tls option to a TLS front on 443`,
    );
  }
  // grpc-js takes any digits, and every call then waits for a connection that cannot be made.
  const outside = namedPorts(target).find((port) => !(Number(port) >= 1 && Number(port) <= 65535));
  if (outside !== undefined) {
    throw new RangeError(`target "${target}" names port ${outside}, outside 1 to 65535: give the servers' gRPC port, e.g. 50051`);
  }
  return target;
}
