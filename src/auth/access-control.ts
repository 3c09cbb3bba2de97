/**
 * One gate for every call, gRPC or HTTP: the bearer token (an API key of the key file, or a JWT of
 * the JWKS), the scope the method needs (access.ts), then the caller's quota. A call is admitted
 * with a function that ends it (its quota's open calls), or refused with an AuthFailure
 * (UNAUTHENTICATED, PERMISSION_DENIED) or an OcrError (RESOURCE_EXHAUSTED, with its retry hint).
 *
 * The key file and the JWKS file are read at start (a bad one stops it) and again when they
 * change on disk: a new key or a rotated signing key needs no restart. A file that no longer reads
 * is logged and the last good one kept.
 */
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { ApiKeys, readApiKeys } from './api-keys.js';
import { missingScope, type Requirement } from './access.js';
import { AuthFailure, bearerToken, looksLikeJwe, looksLikeJwt } from './bearer.js';
import { JwtVerifier, readJwks, type JwtSettings } from './jwt.js';
import type { Quota } from './quota-config.js';
import { QuotaLimiter } from './quota.js';
import { RefusalLog } from './refusal-log.js';

export interface AuthSettings {
  /** JSON list of API keys (api-keys.ts); unset: none. */
  apiKeysFile?: string;
  /** JWTs verified against a JWKS file; unset: none. */
  jwt?: JwtSettings;
  /** GetServerInfo, /api/info, reflection and /metrics need a token too (access.ts). Default true. */
  protectInfo?: boolean;
  /** How often the files are looked at for changes, in ms. Default 1000. */
  reloadPollMs?: number;
}

export interface AccessSettings {
  /** Unset: no tokens; every call is let in, and quotas count callers by `fallback`. */
  auth?: AuthSettings;
  /** Default quota of every caller, unless its key sets its own; unset: none. */
  quota?: Quota;
}

/** Who a call comes from, once its token is verified. */
export interface Caller {
  /** What quotas count by and logs name: key:NAME, jwt:SUBJECT, or the transport's fallback (cert:…, addr:…). */
  identity: string;
  scopes: ReadonlySet<string>;
  quota?: Quota;
}

export interface CallAccess {
  /** The `authorization` values the call carried (metadata or header): none, one, or several. */
  authorization: readonly unknown[];
  /** Who the call is from when no token names it: the client certificate's subject, else the peer address. */
  fallback: () => string;
}

/** What an admitted call counts against its caller's rate beyond its admission, which counted it as one call. */
export interface QuotaCharges {
  /** One call more: a tile stream's next image. RESOURCE_EXHAUSTED with the wait until there is room. */
  another: () => Promise<void>;
}

export interface Admitted {
  caller: Caller;
  /** Ends the call's hold on its quota; call once it has ended (later calls are no-ops). */
  release: () => void;
  charges: QuotaCharges;
}

/** The scopes a refusal names at most: a JWT may carry hundreds, which would fill its message, header and log line with no help in them. */
const SCOPES_NAMED = 8;

/** What a token carries, as a refusal for a missing scope says it. */
function carriedScopes(scopes: ReadonlySet<string>): string {
  if (scopes.size === 0) return 'no scope';
  const named = [...scopes].slice(0, SCOPES_NAMED).join(' ');
  return scopes.size > SCOPES_NAMED ? `${named} and ${scopes.size - SCOPES_NAMED} more` : named;
}

const NOTHING = (): void => undefined;
const NO_CHARGES: QuotaCharges = { another: async () => undefined };

/**
 * What changes when a file is rewritten or replaced: its inode, size and time. One that cannot be
 * looked at (EACCES once its directory's mode changes, ELOOP) stands as its error code, whose read
 * then says why: thrown from the poll's timer, it ended the server.
 */
function fileStamp(file: string): string {
  try {
    const stats = statSync(file, { throwIfNoEntry: false });
    return stats ? `${stats.ino}/${stats.size}/${stats.mtimeMs}` : 'none';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'unreadable';
  }
}

/** Tokens: API keys and JWTs, each set reloaded when its file changes. */
export class Authenticator {
  private keys: ApiKeys | null = null;
  private readonly jwt: JwtVerifier | null = null;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly settings: AuthSettings,
    /** Where reloads are reported; settable, for a server whose logger comes later. */
    public logger?: Logger,
    /** The quota of callers whose key sets none, which each key's own fields are checked with. */
    defaultQuota: Quota = {},
  ) {
    if (!settings.apiKeysFile && !settings.jwt) throw new Error('tokens need --api-keys FILE or --jwks FILE (or both)');
    const poll = settings.reloadPollMs ?? 1000;
    const { apiKeysFile, jwt } = settings;
    if (apiKeysFile) {
      this.keys = new ApiKeys(readApiKeys(apiKeysFile, defaultQuota));
      this.watch(apiKeysFile, poll, () => {
        this.keys = new ApiKeys(readApiKeys(apiKeysFile, defaultQuota));
        return `${this.keys.size} API keys`;
      });
    }
    if (jwt) {
      const verifier = new JwtVerifier(jwt);
      this.jwt = verifier;
      this.watch(jwt.jwksFile, poll, () => {
        const jwks = readJwks(jwt.jwksFile);
        verifier.setKeys(jwks);
        return `${jwks.keys.length} JWKS keys`;
      });
    }
  }

  get protectInfo(): boolean {
    return this.settings.protectInfo ?? true;
  }

  /** What the server takes, for its start log line. */
  describe(): Record<string, unknown> {
    return {
      apiKeys: this.keys?.size ?? 0,
      ...(this.settings.jwt ? { jwtIssuer: this.settings.jwt.issuer, jwtAudience: this.settings.jwt.audience } : {}),
      protectInfo: this.protectInfo,
    };
  }

  /** The caller a token names; throws AuthFailure. */
  async authenticate(authorization: readonly unknown[]): Promise<Caller> {
    const token = bearerToken(authorization);
    // Taken for an API key, it was refused as an unknown one, or as no JWT where only JWTs are taken.
    if (looksLikeJwe(token)) {
      throw new AuthFailure(
        'UNAUTHENTICATED',
        'the token is an encrypted JWT (JWE, five parts), which only its identity provider can read: send a signed one (three parts), as the provider issues for an API audience (an access token requested for this service)',
        'invalid_token',
      );
    }
    if (looksLikeJwt(token)) {
      if (!this.jwt) throw new AuthFailure('UNAUTHENTICATED', 'this server takes no JWTs: send one of its API keys', 'invalid_token');
      const { subject, scopes } = await this.jwt.verify(token);
      return { identity: `jwt:${subject}`, scopes: new Set(scopes) };
    }
    if (!this.keys)
      throw new AuthFailure('UNAUTHENTICATED', 'this server takes no API keys, and the token is no JWT: send a JWT', 'invalid_token');
    const entry = this.keys.find(token);
    if (!entry)
      throw new AuthFailure('UNAUTHENTICATED', 'unknown API key: it is not in the key file (revoked, or mistyped)', 'invalid_token');
    return { identity: `key:${entry.name}`, scopes: new Set(entry.scopes), ...(entry.quota ? { quota: entry.quota } : {}) };
  }

  close(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
  }

  /**
   * Looks at `file` every pollMs and reloads it when it is not the file last read (a rename over
   * it, as editors and secret managers write, included); `reload` says what was read. Polled
   * rather than watched: fs.watch loses a file renamed over, and fs.watchFile misses a change made
   * before its first look.
   */
  private watch(file: string, pollMs: number, reload: () => string): void {
    let last = fileStamp(file);
    const timer = setInterval(() => {
      const now = fileStamp(file);
      if (now === last) return;
      last = now;
      try {
        const loaded = reload();
        this.logger?.info({ file, loaded }, 'reloaded');
      } catch (err) {
        this.logger?.error({ file, err: (err as Error).message }, 'cannot reload; the last good file stays in use');
      }
    }, pollMs);
    timer.unref();
    this.timers.push(timer);
  }
}

export class AccessControl {
  readonly auth: Authenticator | null;
  readonly quotas: QuotaLimiter | null;
  /** The refusals of who calls and over quotas, over gRPC and HTTP alike: logged once per source and kind an interval, then counted. */
  readonly refusals = new RefusalLog();

  constructor(settings: AccessSettings, logger?: Logger) {
    this.auth = settings.auth ? new Authenticator(settings.auth, logger, settings.quota) : null;
    const quota = settings.quota ?? {};
    // Keys may set quotas of their own even where no default applies.
    this.quotas = Object.keys(quota).length > 0 || settings.auth?.apiKeysFile ? new QuotaLimiter(quota) : null;
  }

  setLogger(logger: Logger): void {
    if (this.auth) this.auth.logger = logger;
  }

  /** Whether information (GetServerInfo, reflection, /metrics) needs a token. */
  get protectInfo(): boolean {
    return this.auth?.protectInfo ?? false;
  }

  /** Whether a call with this requirement needs looking at at all. */
  concerns(need: Requirement): boolean {
    return (need.scope !== null && this.auth !== null) || (need.quota && this.quotas !== null);
  }

  /** Admits the call or throws AuthFailure / OcrError(RESOURCE_EXHAUSTED). */
  async admit(call: CallAccess, need: Requirement): Promise<Admitted> {
    let caller = await this.authorized(call.authorization, need);
    const { quotas } = this;
    if (!need.quota || !quotas) {
      return { caller: caller ?? { identity: call.fallback(), scopes: new Set() }, release: NOTHING, charges: NO_CHARGES };
    }
    // An open call (information under --no-protect-info) that carries a token is counted by it, not by
    // its address, which every caller there without one shares; one that does not verify leaves the
    // call as open as one without.
    if (!caller && this.auth && call.authorization.length > 0) caller = await this.auth.authenticate(call.authorization).catch(() => null);
    caller ??= { identity: call.fallback(), scopes: new Set() };
    const { identity } = caller;
    const quota = quotas.quotaOf(caller.quota);
    const release = await quotas.admit(identity, quota);
    const charges: QuotaCharges = { another: () => quotas.consume(identity, quota, 1) };
    return { caller, release, charges };
  }

  /**
   * The token judged again, as it stands now: a stream outlives the check at its start, and its key
   * may have been revoked, its JWT expired or its scope withdrawn since. Throws AuthFailure.
   */
  async recheck(authorization: readonly unknown[], need: Requirement): Promise<void> {
    await this.authorized(authorization, need);
  }

  close(): void {
    this.auth?.close();
    this.refusals.close();
  }

  /** The caller the token names, with the scope `need` asks for; null where no token is looked at. */
  private async authorized(authorization: readonly unknown[], need: Requirement): Promise<Caller | null> {
    if (need.scope === null || !this.auth) return null;
    const caller = await this.auth.authenticate(authorization);
    if (!caller.scopes.has(need.scope)) {
      throw missingScope(need.scope, need.what, `the token of ${caller.identity} carries ${carriedScopes(caller.scopes)}`);
    }
    return caller;
  }
}
