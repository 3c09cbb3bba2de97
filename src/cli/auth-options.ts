/**
 * Tokens and quotas on the command line: the server side (`--api-keys`, `--jwks` and `--jwt-*`,
 * `--no-protect-info`, `--quota-*`) of serve and gateway, and the client side (`--token`, else
 * $OCR_TOKEN) of recognize, info and gateway. Declared and read here, so that every command takes
 * them alike. Nothing here loads the SDK, jose or the limiter.
 */
import { Option } from 'commander';
import type { AccessSettings } from '../auth/access-control.js';
import { checkQuota, type Quota } from '../auth/quota-config.js';
import { checkToken } from '../client/token.js';
import { decimal, positiveInt, wholeNumber } from './parse-args.js';

export interface ServerAuthCliOptions {
  apiKeys?: string;
  jwks?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  jwtClockSkewS: number;
  /** False with --no-protect-info. */
  protectInfo: boolean;
  quotaRps?: number;
  quotaBurst?: number;
  quotaConcurrent?: number;
}

export interface TokenCliOptions {
  /** --token; unset: $OCR_TOKEN. */
  token?: string;
}

export const JWT_CLOCK_SKEW_S = 30;

/** The server side, of serve and gateway. */
export function serverAuthOptions(): Option[] {
  return [
    new Option(
      '--api-keys <file>',
      'require bearer tokens: the API keys of this JSON file ([{name, hash, scopes, quota?}], `ocr api-key create` makes entries), reloaded when it changes',
    ),
    new Option(
      '--jwks <file>',
      'require bearer tokens: JWTs signed (RS256, ES256, EdDSA) by a key of this JSON Web Key Set file, reloaded when it changes; with --jwt-issuer and --jwt-audience',
    ),
    new Option('--jwt-issuer <iss>', "the JWTs' issuer (iss), with --jwks"),
    new Option('--jwt-audience <aud>', "this service's name in the JWTs' audience (aud), with --jwks"),
    new Option('--jwt-clock-skew-s <s>', 'leeway for JWT expiry and not-before, in seconds')
      .argParser(wholeNumber(0, 3600))
      .default(JWT_CLOCK_SKEW_S),
    new Option(
      '--no-protect-info',
      'with tokens on, leave GetServerInfo, /api/info, server reflection and /metrics open to callers without one (default: they need ocr:read, /metrics ocr:admin)',
    ),
    new Option(
      '--quota-rps <n>',
      "each caller's calls a second (API key, JWT subject, client certificate, else address), each image of a tile stream counting as one, unless its key sets its own; over it: RESOURCE_EXHAUSTED / 429 (default: none)",
    ).argParser(decimal(0.001)),
    new Option('--quota-burst <n>', 'calls a caller may send at once above --quota-rps (default: one second of it)').argParser(positiveInt),
    new Option('--quota-concurrent <n>', "each caller's calls open at once (default: none)").argParser(positiveInt),
  ];
}

export function tokenOption(what = 'the server'): Option {
  return new Option('--token <token>', `bearer token (API key or JWT) sent to ${what} (default: $OCR_TOKEN)`);
}

/** The token of --token or $OCR_TOKEN; undefined for none. Throws naming which of the two is wrong: one from the environment goes unseen. */
export function cliToken(opts: TokenCliOptions): string | undefined {
  const [given, source] = opts.token !== undefined ? [opts.token, '--token'] : [process.env.OCR_TOKEN, '$OCR_TOKEN'];
  // A key kept in a file or a secret comes with its last line break (kubectl create secret --from-file), which no token has.
  const token = given?.trim();
  if (token === undefined || token === '') return undefined;
  try {
    return checkToken(token);
  } catch (err) {
    throw new Error(`${source}: ${(err as Error).message}`, { cause: err });
  }
}

/** The server's AccessSettings from the flags; undefined: no tokens and no quotas. Throws naming the flags that are wrong. */
export function accessSettings(opts: ServerAuthCliOptions): AccessSettings | undefined {
  const jwtFlags = opts.jwtIssuer !== undefined || opts.jwtAudience !== undefined;
  if (opts.jwks === undefined && jwtFlags)
    throw new Error('--jwt-issuer and --jwt-audience go with --jwks FILE, the keys the JWTs are verified with');
  if (opts.jwks !== undefined && (opts.jwtIssuer === undefined || opts.jwtAudience === undefined)) {
    throw new Error('--jwks needs --jwt-issuer and --jwt-audience: a JWT for another service, or from another issuer, must not be taken');
  }
  if (opts.quotaBurst !== undefined && opts.quotaRps === undefined) throw new Error('--quota-burst goes with --quota-rps');
  const quota: Quota = checkQuota(
    {
      ...(opts.quotaRps !== undefined ? { rps: opts.quotaRps } : {}),
      ...(opts.quotaBurst !== undefined ? { burst: opts.quotaBurst } : {}),
      ...(opts.quotaConcurrent !== undefined ? { concurrent: opts.quotaConcurrent } : {}),
    },
    '--quota-rps, --quota-burst',
  );
  const tokens = opts.apiKeys !== undefined || opts.jwks !== undefined;
  if (!tokens && Object.keys(quota).length === 0) return undefined;
  return {
    ...(tokens
      ? {
          auth: {
            ...(opts.apiKeys !== undefined ? { apiKeysFile: opts.apiKeys } : {}),
            ...(opts.jwks !== undefined
              ? { jwt: { jwksFile: opts.jwks, issuer: opts.jwtIssuer!, audience: opts.jwtAudience!, clockSkewS: opts.jwtClockSkewS } }
              : {}),
            protectInfo: opts.protectInfo,
          },
        }
      : {}),
    ...(Object.keys(quota).length > 0 ? { quota } : {}),
  };
}
