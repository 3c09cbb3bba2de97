/**
 * Safe defaults: a server reachable from other machines that leaves a protection off says so at
 * start, once per protection, with the flags that turn it on. Loopback listeners stay quiet (a
 * developer's machine, or a sidecar proxy in front that does TLS and authentication itself).
 *
 * Each protection (TLS, tokens, …) is one entry of the list startServer passes; a new one is a new entry.
 */
import { isIP } from 'node:net';
import type { Logger } from './logger.js';

export interface Protection {
  /** What it is, as the warning names it: "TLS", "authentication". */
  name: string;
  enabled: boolean;
  /** What is exposed without it, and how to turn it on: flags, in one sentence. */
  howTo: string;
}

/** Whether a listen address only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

/** The warnings for `host`: one per protection left off, none on loopback. */
export function exposureWarnings(host: string, protections: Protection[]): string[] {
  if (isLoopback(host)) return [];
  return protections.filter((p) => !p.enabled).map((p) => `serving ${host}, which other machines can reach, without ${p.name}: ${p.howTo}`);
}

/** Logs exposureWarnings at warn level. */
export function warnIfExposed(logger: Logger, host: string, protections: Protection[]): void {
  for (const message of exposureWarnings(host, protections)) logger.warn({ host }, message);
}

/** The TLS entry (server.ts). */
export function tlsProtection(enabled: boolean): Protection {
  return {
    name: 'TLS',
    enabled,
    howTo:
      'images, answers and any token cross the network in clear text on both ports; turn TLS on with --tls-cert FILE --tls-key FILE, ' +
      'and require client certificates with --tls-client-ca FILE (README, "TLS and mutual TLS")',
  };
}

/** The tokens entry (server.ts): API keys or JWTs (src/auth). */
export function tokenProtection(enabled: boolean): Protection {
  return {
    name: 'tokens',
    enabled,
    howTo:
      'anyone who reaches it may call it; require bearer tokens with --api-keys FILE (keys made by `ocr api-key create`) ' +
      'and/or --jwks FILE --jwt-issuer ISS --jwt-audience AUD (README, "Tokens and quotas")',
  };
}

/**
 * The --metrics-port entry (server.ts): that port is plain HTTP whatever the others are, so with TLS
 * on it is the one way in without it. Off where TLS is off (the TLS entry says it) or the port is.
 */
export function metricsPortProtection(tls: boolean, metricsPort: boolean): Protection {
  return {
    name: 'TLS on --metrics-port',
    enabled: !(tls && metricsPort),
    howTo:
      "its /metrics is plain HTTP beside TLS on the other ports: a scraper's token and every caller's figures cross the network in clear text, " +
      'and no client certificate is asked for; leave --metrics-port off and scrape /metrics on the HTTPS port (README, "TLS and mutual TLS")',
  };
}
