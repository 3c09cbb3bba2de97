/**
 * `ocr api-key create --name N --scopes ocr:read`: a new random key, printed once, and the entry
 * for the key file, which holds its SHA-256 only (api-keys.ts). With --add-to FILE the entry is
 * added to the key file itself, written whole (a temporary file, then a rename), so that a server
 * reading it (--api-keys) takes the new key at its next look, without a restart.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { generateApiKey, hashApiKey, parseApiKeys, type ApiKeyEntry } from '../auth/api-keys.js';
import { checkQuota } from '../auth/quota-config.js';
import type { Scope } from '../auth/scopes.js';

export interface ApiKeyCreateOptions {
  name: string;
  scopes: Scope[];
  quotaRps?: number;
  quotaBurst?: number;
  quotaConcurrent?: number;
  /** The key file to add the entry to (created when missing). */
  addTo?: string;
}

function readEntries(file: string): ApiKeyEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return parseApiKeys(text, file);
}

/** The key file as it stands, or undefined where there is none yet. */
function keyFileStats(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Why the key file cannot be written in `dir`, in the file's terms: Node's would name the temporary file beside it. */
function unwritable(file: string, dir: string, err: NodeJS.ErrnoException): Error {
  const why =
    err.code === 'ENOENT'
      ? `its directory ${dir} does not exist; create it, or name a key file in a directory that does`
      : err.code === 'EACCES' || err.code === 'EPERM'
        ? `not permitted to write in ${dir} (the file is written whole beside it, then renamed over it); run as a user who may`
        : err.message;
  return new Error(`cannot write --add-to ${file}: ${why}`, { cause: err });
}

/**
 * The file a key file that is a link leads to, which is the one to replace: a rename over the link
 * would turn it into a file of its own and leave the file it led to, which others may read, stale.
 */
function fileBehind(file: string): string {
  try {
    return realpathSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return file;
    throw err;
  }
}

/**
 * Writes the key file whole (a temporary file, then a rename). The file it replaces keeps its owner,
 * group and mode: a server running as another user, which reads it through its group, would
 * otherwise lose the file, and every key in it, at its next look. The temporary file has a name no
 * one can know beforehand and is made only where nothing is: a link planted at a predictable name in
 * a directory others may write would have had the entries written, and the owner and mode set,
 * through it.
 */
function writeKeyFile(file: string, entries: ApiKeyEntry[]): void {
  const target = fileBehind(file);
  const current = keyFileStats(target);
  const next = `${target}.${randomBytes(8).toString('hex')}.tmp`;
  try {
    writeFileSync(next, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    throw unwritable(file, path.dirname(target), err as NodeJS.ErrnoException);
  }
  try {
    if (current) {
      chownSync(next, current.uid, current.gid);
      chmodSync(next, current.mode & 0o7777);
    }
    renameSync(next, target);
  } catch (err) {
    rmSync(next, { force: true });
    const keeping = current ? ` keeping its owner (uid ${current.uid}, gid ${current.gid}) and mode` : '';
    throw new Error(`cannot replace --add-to ${file}${keeping}: ${(err as Error).message}; run as its owner or as root`, { cause: err });
  }
}

/** Prints the key and its entry on stdout (the key alone on the first line); resolves with the exit status. */
export function apiKeyCreateCommand(opts: ApiKeyCreateOptions): number {
  const key = generateApiKey();
  const quota = checkQuota(
    {
      ...(opts.quotaRps !== undefined ? { rps: opts.quotaRps } : {}),
      ...(opts.quotaBurst !== undefined ? { burst: opts.quotaBurst } : {}),
      ...(opts.quotaConcurrent !== undefined ? { concurrent: opts.quotaConcurrent } : {}),
    },
    'ocr api-key create',
  );
  const entry: ApiKeyEntry = { name: opts.name, hash: hashApiKey(key), scopes: [...new Set(opts.scopes)] };
  if (Object.keys(quota).length > 0) entry.quota = quota;
  // The same checks as the server's: a name it would refuse is refused now.
  parseApiKeys(JSON.stringify([entry]), 'the new entry');
  if (opts.addTo !== undefined) {
    const entries = readEntries(opts.addTo);
    if (entries.some((e) => e.name === entry.name)) {
      process.stderr.write(
        `ocr api-key create: ${opts.addTo} already has a key named ${entry.name}; remove it first or choose another name\n`,
      );
      return 1;
    }
    writeKeyFile(opts.addTo, [...entries, entry]);
  }
  process.stdout.write(`${key}\n${JSON.stringify(entry)}\n`);
  process.stderr.write(
    [
      `The first line is the API key of ${entry.name}: it is shown this once, and only its hash is kept. Callers send it as`,
      '"authorization: Bearer <key>" (ocr --token, $OCR_TOKEN, the SDK\'s token option).',
      opts.addTo !== undefined
        ? `The second line, its entry, was added to ${opts.addTo}; a server reading it takes the key within a second.`
        : 'The second line is its entry: add it to the JSON list of the key file a server reads (--api-keys FILE).',
      '',
    ].join('\n'),
  );
  return 0;
}
