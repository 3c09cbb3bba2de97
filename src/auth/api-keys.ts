/**
 * API keys: random bearer tokens, of which the server keeps only the SHA-256. A key is 32 random
 * bytes (256 bits), so a fast hash is enough: nothing shorter than the key itself can be guessed
 * from it, and unlike scrypt or bcrypt (tens of milliseconds by design, for passwords people
 * choose) it costs the call nothing, a few microseconds. The key file lists the keys' names,
 * hashes, scopes and quotas:
 *
 *   [{"name": "billing", "hash": "sha256:9f86…", "scopes": ["ocr:read"], "quota": {"rps": 20, "burst": 40, "concurrent": 4}}]
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { checkMergedQuota, checkQuota, type Quota } from './quota-config.js';
import { isScope, SCOPES, type Scope } from './scopes.js';

export interface ApiKeyEntry {
  name: string;
  /** "sha256:" and the key's SHA-256, in lower-case hex. */
  hash: string;
  scopes: Scope[];
  quota?: Quota;
}

/** Keys start with it, so that one pasted where it does not belong is recognisable (secret scanners). */
export const KEY_PREFIX = 'ocr_';

export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** A new key: KEY_PREFIX and 32 random bytes in base64url (within RFC 6750's token characters). */
export function generateApiKey(): string {
  return `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

const HASH = /^sha256:[0-9a-f]{64}$/;
export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$/;
/** What KEY_NAME takes, in words, for the key file's refusals and `ocr api-key create --name`'s. */
export const KEY_NAME_RULE = '1-128 letters, digits or _.@:-, the first a letter or digit (it names the caller in logs and quotas)';

/**
 * JSON.parse's complaint without the text it quotes around the fault ('Unexpected token 'o',
 * "ocr_NasTCa"... is not valid JSON'): in a key file that text may be a key pasted in whole, which
 * must reach no log line or message.
 */
const unquoted = (message: string): string => message.replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, '');

/**
 * Checks a key file's entries; throws an Error naming the entry and what is wrong with it.
 * `defaults`: the quota of callers whose key sets none (the --quota-* flags), which a key's own fields are merged with.
 */
export function parseApiKeys(text: string, file: string, defaults: Quota = {}): ApiKeyEntry[] {
  // `ocr api-key create > FILE` writes the key itself on the first line, the entry on the second.
  if (text.trimStart().startsWith(KEY_PREFIX)) {
    throw new Error(
      `${file}: it holds an API key itself, which only its caller may keep: the key file lists entries (the second line \`ocr api-key create\` prints, or what its --add-to FILE adds); remove the key from the file, or make a new one`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(
      `${file}: not JSON (${unquoted((err as Error).message)}); the key file is a JSON list of {name, hash, scopes, quota?}`,
      {
        cause: err,
      },
    );
  }
  if (!Array.isArray(data)) throw new Error(`${file}: the key file is a JSON list of {name, hash, scopes, quota?}`);
  const names = new Set<string>();
  const hashes = new Set<string>();
  return data.map((raw: unknown, i): ApiKeyEntry => {
    const where = `${file}: entry ${i + 1}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${where} is not an object {name, hash, scopes}`);
    const { name, hash, scopes, quota, ...rest } = raw as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw new Error(`${where}: unknown field ${Object.keys(rest).join(', ')}`);
    if (typeof name !== 'string' || !KEY_NAME.test(name)) {
      throw new Error(`${where}: "name" must be ${KEY_NAME_RULE}`);
    }
    if (names.has(name)) throw new Error(`${where}: the name ${name} is used twice`);
    names.add(name);
    if (typeof hash !== 'string' || !HASH.test(hash)) {
      throw new Error(`${where} (${name}): "hash" must be "sha256:" and 64 lower-case hex digits, as \`ocr api-key create\` prints it`);
    }
    if (hashes.has(hash)) throw new Error(`${where} (${name}): the same key is listed twice`);
    hashes.add(hash);
    if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every(isScope)) {
      throw new Error(`${where} (${name}): "scopes" must be a non-empty list of ${SCOPES.join(', ')}`);
    }
    const checked = checkQuota(quota, `${where} (${name})`);
    checkMergedQuota(checked, defaults, `${where} (${name})`);
    return { name, hash, scopes: [...new Set(scopes)], ...(Object.keys(checked).length > 0 ? { quota: checked } : {}) };
  });
}

export function readApiKeys(file: string, defaults: Quota = {}): ApiKeyEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // Node's "ENOENT: no such file or directory, open 'keys.json'" names neither the flag nor what the file should be.
    throw new Error(
      `${file}: ${(err as Error).message}; --api-keys takes a key file, a JSON list of {name, hash, scopes, quota?} (\`ocr api-key create --add-to FILE\` makes one)`,
      { cause: err },
    );
  }
  return parseApiKeys(text, file, defaults);
}

/** The keys by hash: a presented key is hashed and looked up, never compared byte by byte. */
export class ApiKeys {
  private readonly byHash: Map<string, ApiKeyEntry>;

  constructor(entries: readonly ApiKeyEntry[]) {
    this.byHash = new Map(entries.map((e) => [e.hash, e]));
  }

  get size(): number {
    return this.byHash.size;
  }

  find(key: string): ApiKeyEntry | undefined {
    return this.byHash.get(hashApiKey(key));
  }
}
