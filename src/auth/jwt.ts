/**
 * JWTs signed by an identity provider, verified with `jose` against the public keys of a JWKS file:
 * the signature (RS256, ES256 or EdDSA only: no HMAC secrets shared with callers, no "none"), the
 * issuer, the audience, expiry and not-before within the allowed clock skew. A token must carry
 * `exp` (none never expires) and `sub` (it names the caller in logs and quotas). Scopes come from
 * `scope` (space-separated, OAuth 2) or `scp` (a list, or space-separated). `jose` is loaded with
 * the first token to verify: a server that takes only API keys, or none, does not load it.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type * as JoseModule from 'jose';
import type { JSONWebKeySet, JWSAlgorithm, JWTPayload, JWTVerifyOptions } from 'jose';
import { AuthFailure } from './bearer.js';

type Jose = typeof JoseModule;
type KeySet = ReturnType<Jose['createLocalJWKSet']>;

let joseLoading: Promise<Jose> | undefined;
const loadJose = (): Promise<Jose> => (joseLoading ??= import('jose'));

export const JWT_ALGORITHMS: JWSAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];

export interface JwtSettings {
  /** The JWKS file: {"keys": [...]} of public keys. */
  jwksFile: string;
  issuer: string;
  audience: string;
  /** Leeway for exp and nbf, in seconds. */
  clockSkewS: number;
}

export interface JwtIdentity {
  subject: string;
  scopes: string[];
}

/** Reads and checks a JWKS file; throws an Error saying what is wrong. */
export function readJwks(file: string): JSONWebKeySet {
  // An identity provider publishes its keys at a URL, which is what an operator has at hand.
  if (/^https?:\/\//i.test(file)) {
    throw new Error(
      `${file}: --jwks takes a file, not a URL (the server fetches nothing): save the identity provider's JWKS to a file (curl -fsS ${file} -o jwks.json), kept current by whatever fetches it; the server reads it again when it changes`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}; --jwks takes a JSON Web Key Set file ({"keys": [...]})`, { cause: err });
  }
  const keys = (data as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new Error(`${file}: a JSON Web Key Set needs a non-empty "keys" list`);
  for (const [i, key] of keys.entries()) {
    const k = key as Record<string, unknown>;
    if (typeof k !== 'object' || k === null || typeof k.kty !== 'string') throw new Error(`${file}: key ${i + 1} has no "kty"`);
    if ('d' in k) throw new Error(`${file}: key ${i + 1} is a private key; the server needs only the public ones`);
    if (k.kty === 'oct')
      throw new Error(`${file}: key ${i + 1} is a shared secret (kty "oct"); only RS256, ES256 and EdDSA keys are taken`);
    checkPublicKey(k, `${file}: key ${i + 1}${typeof k.kid === 'string' ? ` (kid ${k.kid})` : ''}`);
  }
  return data as JSONWebKeySet;
}

/** RS256's least modulus, as jose enforces it when it verifies. */
const RSA_MIN_BITS = 2048;

/**
 * Reads a key of a type the server verifies with (RSA, EC, OKP) as Node would: one that does not
 * read (a truncated coordinate, a modulus too short) would otherwise be taken, and every token of its
 * kid refused as malformed, blaming the token for the file.
 */
function checkPublicKey(jwk: Record<string, unknown>, where: string): void {
  // Other types, and keys for encryption, are never picked to verify (jose's JWKS takes use "sig" or none).
  if ((jwk.kty !== 'RSA' && jwk.kty !== 'EC' && jwk.kty !== 'OKP') || (jwk.use !== undefined && jwk.use !== 'sig')) return;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new Error(`${where} cannot verify tokens (${(err as Error).message}): save the identity provider's JWKS again, whole`, {
      cause: err,
    });
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType === 'rsa' && bits !== undefined && bits < RSA_MIN_BITS) {
    throw new Error(`${where} is an RSA key of ${bits} bits; RS256 needs ${RSA_MIN_BITS} or more: sign with a larger key`);
  }
}

const when = (seconds: unknown): string =>
  typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : 'an unreadable time';

function scopesOf(payload: JWTPayload): string[] {
  const claim = payload.scope ?? payload.scp;
  if (typeof claim === 'string') return claim.split(' ').filter((s) => s.length > 0);
  if (Array.isArray(claim)) return claim.filter((s): s is string => typeof s === 'string');
  return [];
}

/** Whether a token's header marks extensions as critical (crit), which jose refuses, before the signature, unless told of them. */
function marksCritical(token: string, jose: Jose): boolean {
  try {
    return jose.decodeProtectedHeader(token).crit !== undefined;
  } catch {
    return false;
  }
}

/** Longer claim values are cut in a refusal: it names them to help, and a token may hold 8 KiB. */
const CLAIM_SHOWN_CHARS = 100;
const AUDIENCES_SHOWN = 4;

/**
 * An issuer's or audience's value as a refusal names it: the token's holder can read it anyway,
 * and the claims are checked only once the signature holds, so it is the issuer's words.
 */
function claimShown(value: unknown): string {
  const values = (Array.isArray(value) ? value : [value]).map((v) => {
    const text = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
    return text.length > CLAIM_SHOWN_CHARS ? `${text.slice(0, CLAIM_SHOWN_CHARS)}…` : text;
  });
  const more = values.length > AUDIENCES_SHOWN ? ` and ${values.length - AUDIENCES_SHOWN} more` : '';
  return values.slice(0, AUDIENCES_SHOWN).join(', ') + more;
}

/** The refusal of a token of another issuer, telling apart one that differs by a slash at the end (https://idp/ for https://idp), as providers and their settings often do. */
function wrongIssuer(iss: unknown, issuer: string): string {
  const slashOnly = typeof iss === 'string' && iss.replace(/\/$/, '') === issuer.replace(/\/$/, '');
  return (
    `wrong issuer: the token is from ${claimShown(iss)}; this server takes tokens of ${issuer}` +
    (slashOnly ? ' (they differ by the slash at the end: give --jwt-issuer exactly as the tokens write it)' : '')
  );
}

/** The claims that are times, in seconds since 1970 (RFC 7519's NumericDate). */
const TIME_CLAIMS = new Set(['exp', 'nbf', 'iat']);

/**
 * A jose error → the refusal that says what is wrong with the token, never the token. A time claim
 * that is no number (a string, as some issuers write it) is said to be so, not read as a time: jose
 * checks `iat` for that alone, as no maxTokenAge is set.
 */
function refusal(err: unknown, token: string, settings: JwtSettings, jose: Jose): AuthFailure {
  const { errors } = jose;
  const invalid = (message: string): AuthFailure => new AuthFailure('UNAUTHENTICATED', message, 'invalid_token');
  if (err instanceof errors.JWTExpired) return invalid(`the token expired at ${when(err.payload.exp)}`);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'invalid' && TIME_CLAIMS.has(err.claim)) {
      return invalid(`the token's "${err.claim}" claim is invalid: it must be a number of seconds since 1970 (a NumericDate)`);
    }
    switch (err.claim) {
      case 'nbf':
        return invalid(`the token is not yet valid: not before ${when(err.payload.nbf)}`);
      case 'aud':
        return invalid(
          err.reason === 'missing'
            ? 'the token names no audience (aud)'
            : `wrong audience: the token is for ${claimShown(err.payload.aud)}, not ${settings.audience}`,
        );
      case 'iss':
        return invalid(err.reason === 'missing' ? 'the token names no issuer (iss)' : wrongIssuer(err.payload.iss, settings.issuer));
      default:
        return invalid(err.reason === 'missing' ? `the token has no "${err.claim}" claim` : `the token's "${err.claim}" claim is invalid`);
    }
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return invalid("bad signature: the token was not signed by a key of this server's JWKS");
  if (err instanceof errors.JWKSNoMatchingKey) return invalid("unknown key: no key of this server's JWKS matches the token's kid and alg");
  // The extensions go unnamed: the header is not verified yet.
  if (err instanceof errors.JOSENotSupported && marksCritical(token, jose)) {
    return invalid(
      'the token\'s header marks as critical (crit) an extension this server does not implement: ask its issuer for a token without "crit"',
    );
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return invalid(`the token's algorithm is not accepted: ${JWT_ALGORITHMS.join(', ')} only`);
  }
  if (err instanceof errors.JOSEError) return invalid('malformed JWT: its header, claims or signature cannot be read');
  return invalid('malformed JWT');
}

/**
 * The token's claims, verified with the key of the set it names; where it names none and several
 * keys of its algorithm could have signed it (a rotation: the old key and the new, both published),
 * with each in turn until one holds, as jose leaves its caller to do. Throws jose's error: a bad
 * signature where none holds.
 */
async function verifiedClaims(token: string, keys: KeySet, options: JWTVerifyOptions, jose: Jose): Promise<JWTPayload> {
  try {
    return (await jose.jwtVerify(token, keys, options)).payload;
  } catch (err) {
    if (!(err instanceof jose.errors.JWKSMultipleMatchingKeys)) throw err;
    for await (const key of err) {
      try {
        return (await jose.jwtVerify(token, key, options)).payload;
      } catch (tried) {
        if (!(tried instanceof jose.errors.JWSSignatureVerificationFailed)) throw tried;
      }
    }
    throw new jose.errors.JWSSignatureVerificationFailed();
  }
}

/** Tokens verified lately, so that a caller's next call with the same token skips the signature (ES256: about 1 ms a call). */
const VERIFIED_MAX = 1024;

export class JwtVerifier {
  /** The key set as jose reads it, made from `jwks` on the first verification after a change. */
  private keys: KeySet | null = null;
  /** By token: who it names and until when (ms) it stays valid, its expiry plus the skew. Emptied when the keys change. */
  private readonly verified = new Map<string, JwtIdentity & { untilMs: number }>();
  /** Counts the key sets taken: a check begun under an earlier one is judged again. */
  private keysTaken = 0;

  constructor(
    private readonly settings: JwtSettings,
    private jwks: JSONWebKeySet = readJwks(settings.jwksFile),
  ) {}

  /** Swaps the key set, for a JWKS file that changed on disk. */
  setKeys(jwks: JSONWebKeySet): void {
    this.jwks = jwks;
    this.keys = null;
    this.keysTaken++;
    // A key taken out of the set takes its tokens with it.
    this.verified.clear();
  }

  async verify(token: string): Promise<JwtIdentity> {
    const { issuer, audience, clockSkewS } = this.settings;
    const known = this.verified.get(token);
    if (known && Date.now() < known.untilMs) return { subject: known.subject, scopes: known.scopes };
    if (known) this.verified.delete(token);
    const jose = await loadJose();
    this.keys ??= jose.createLocalJWKSet(this.jwks);
    const keysChecked = this.keysTaken;
    let payload: JWTPayload;
    try {
      payload = await verifiedClaims(
        token,
        this.keys,
        { algorithms: JWT_ALGORITHMS, issuer, audience, clockTolerance: clockSkewS, requiredClaims: ['exp', 'sub'] },
        jose,
      );
    } catch (err) {
      if (keysChecked !== this.keysTaken) return this.verify(token);
      throw refusal(err, token, this.settings, jose);
    }
    // The set changed during the check (a reload): a key withdrawn, as a compromised one is, must
    // neither let this call in nor be remembered past the emptying of `verified`.
    if (keysChecked !== this.keysTaken) return this.verify(token);
    // jose checks that sub is there, not what it is: a null, a number or "" would name callers alike (jwt:null).
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
      throw new AuthFailure(
        'UNAUTHENTICATED',
        'the token\'s "sub" claim is invalid: it must be a string that names the caller',
        'invalid_token',
      );
    }
    const identity = { subject: payload.sub, scopes: scopesOf(payload) };
    if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { ...identity, untilMs: (payload.exp! + clockSkewS) * 1000 });
    return identity;
  }
}
