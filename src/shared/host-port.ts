import { isIPv6 } from 'node:net';

/** A host and port as a URL or a gRPC target writes them: an IPv6 address in brackets ([::1]:8080), where its own colons would run into the port's. */
export const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/**
 * A host as an address is given to listen on or to register: an IPv6 address as a URL writes it
 * (`[::1]`, `[::]`) without its brackets; any other host as it is.
 */
export const bareHost = (host: string): string => {
  const inside = /^\[(.*)\]$/.exec(host)?.[1];
  return inside !== undefined && isIPv6(inside) ? inside : host;
};
