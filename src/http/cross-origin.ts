/**
 * Which other sites' pages may call the API from a browser (CORS). By default none: the Web UI is
 * served from the API's own origin, and a browser keeps other pages from reading the answers. An
 * internal web app on another origin is named with `--cors-origin`; `*` lets any page call it,
 * which is safe only where tokens (not the network) guard the API, since a browser sends no token
 * of its own.
 */
import type { FastifyCorsOptions } from '@fastify/cors';

/** An origin as a browser sends it (scheme, host, port where not the scheme's), or `*`; else an error saying what to write. */
export function parseOrigin(value: string): string {
  if (value === '*') return value;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.origin !== value) {
    const suggestion = url && /^https?:$/.test(url.protocol) ? ` (did you mean ${url.origin}?)` : '';
    throw new Error(`'${value}' is not an origin${suggestion}: write it as https://host or http://host:port, with no path, or * for any`);
  }
  return value;
}

/** @fastify/cors's options for `origins`: the API's methods, its own headers readable by the page, preflights cached 10 min. */
export function corsOptions(origins: readonly string[]): FastifyCorsOptions {
  return {
    origin: origins.includes('*') ? '*' : [...origins],
    methods: ['GET', 'HEAD', 'POST'],
    // A refusal's Retry-After, a token's WWW-Authenticate challenge, the request id in the logs.
    exposedHeaders: ['retry-after', 'www-authenticate', 'x-request-id'],
    maxAge: 600,
  };
}
