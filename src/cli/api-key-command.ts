/**
 * `ocr api-key create --name N --scopes ocr:read`: a new random key, printed once, and the entry
 * for the key file, which holds its SHA-256 only (api-keys.ts). With --add-to FILE the entry is
 * added to the key file itself, written whole (a temporary file, then a rename), so that a server
 * reading it (--api-keys) takes the new key at its next look, without a restart.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
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
    const next = `${opts.addTo}.${process.pid}.tmp`;
    writeFileSync(next, `${JSON.stringify([...entries, entry], null, 2)}\n`, { mode: 0o600 });
    renameSync(next, opts.addTo);
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
