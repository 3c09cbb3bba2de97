/**
 * `npm run bench:security`: what TLS and tokens cost. The development documents through gRPC (the
 * SDK) at concurrency 4, to a plaintext `ocr serve` and to one with TLS and tokens on (an API key,
 * and a JWT signed ES256 verified against a JWKS), passes alternating in ABC CBA order in one run so
 * that drift in this machine's speed falls on all alike. Both servers run throughout; only one is
 * called at a time, and each pass starts with 4 untimed documents (a server idle for 2 s has handed
 * its memory back and would start cold). Per path: documents/s, p50 and p90 latency, failures, and the ratio to plaintext
 * (acceptance: TLS + tokens cost at most 3 % of throughput). Certificates are made by Debian's openssl.
 *   node dist/bench/security.js [--passes N] [--set DIR] [--workers N]
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { generateApiKey, hashApiKey } from '../src/auth/api-keys.js';
import { OcrClient } from '../src/client/index.js';
import { EVAL_DEV } from '../src/dev/repo-paths.js';
import { spawnServer, type ServerProcess } from '../src/dev/server-process.js';
import { mapLimit } from '../src/shared/map-limit.js';

const { values } = parseArgs({
  options: {
    passes: { type: 'string', default: '4' },
    set: { type: 'string', default: EVAL_DEV },
    workers: { type: 'string' },
  },
});
const passes = Number(values.passes);
const docsDir = path.join(values.set!, 'docs');
const docs = readdirSync(docsDir)
  .filter((f) => /\.(jpe?g|png)$/.test(f))
  .sort()
  .map((f) => readFileSync(path.join(docsDir, f)));

/** A CA and a server certificate for 127.0.0.1 (EC P-256: made in milliseconds). */
function certificates(dir: string): { ca: string; cert: string; key: string } {
  const openssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=bench-ca']);
  openssl(['req', ...ec, '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', '/CN=bench-server']);
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca-key.pem',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'san.ext',
    '-out',
    'server.pem',
  ]);
  return { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server-key.pem') };
}

interface Tally {
  ms: number[];
  seconds: number;
  failures: number;
}

type Call = (doc: Buffer) => Promise<unknown>;

async function pass(call: Call, tally: Tally): Promise<void> {
  const started = performance.now();
  await mapLimit(docs, 4, async (doc) => {
    const t0 = performance.now();
    try {
      await call(doc);
      tally.ms.push(performance.now() - t0);
    } catch {
      tally.failures++;
    }
  });
  tally.seconds += (performance.now() - started) / 1000;
}

const quantile = (ms: number[], q: number): number =>
  [...ms].sort((a, b) => a - b)[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN;
const rate = (t: Tally): number => t.ms.length / t.seconds;

const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-security-'));
const pki = certificates(dir);
const apiKey = generateApiKey();
const keyFile = path.join(dir, 'keys.json');
writeFileSync(keyFile, JSON.stringify([{ name: 'bench', hash: hashApiKey(apiKey), scopes: ['ocr:read'] }]));
const signing = await generateKeyPair('ES256');
const jwksFile = path.join(dir, 'jwks.json');
writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(signing.publicKey)), kid: 'bench', alg: 'ES256' }] }));
const jwt = await new SignJWT({ scope: 'ocr:read' })
  .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
  .setIssuer('https://idp.bench')
  .setAudience('ocr')
  .setSubject('bench')
  .setExpirationTime('2h')
  .sign(signing.privateKey);

const workers = values.workers ? ['--workers', values.workers] : [];
const servers: ServerProcess[] = [];
try {
  const plain = await spawnServer(['--no-http', ...workers]);
  servers.push(plain);
  const secure = await spawnServer([
    '--no-http',
    ...workers,
    '--tls-cert',
    pki.cert,
    '--tls-key',
    pki.key,
    '--api-keys',
    keyFile,
    '--jwks',
    jwksFile,
    '--jwt-issuer',
    'https://idp.bench',
    '--jwt-audience',
    'ocr',
  ]);
  servers.push(secure);
  const tls = { ca: readFileSync(pki.ca), serverName: 'localhost' };
  const clients = [
    new OcrClient(`127.0.0.1:${plain.port}`, { deadlineMs: 120_000 }),
    new OcrClient(`127.0.0.1:${secure.port}`, { deadlineMs: 120_000, tls, token: apiKey }),
    new OcrClient(`127.0.0.1:${secure.port}`, { deadlineMs: 120_000, tls, token: jwt }),
  ];
  const names = ['plaintext', 'TLS + API key', 'TLS + JWT (ES256)'];
  const calls: Call[] = clients.map((c) => (doc) => c.recognize(doc));
  for (const call of calls) await pass(call, { ms: [], seconds: 0, failures: 0 }); // warm up, not counted
  const tallies: Tally[] = calls.map(() => ({ ms: [], seconds: 0, failures: 0 }));
  for (let p = 0; p < passes; p++) {
    const order = p % 2 === 0 ? [0, 1, 2] : [2, 1, 0];
    for (const i of order) {
      // A server idle for 2 s hands its freed memory back (memory-trim.ts): re-warm it untimed, so
      // that no path pays the first touch of fresh pages that the others were spared.
      await mapLimit(docs.slice(0, 4), 4, calls[i]!);
      await pass(calls[i]!, tallies[i]!);
    }
  }
  // What a call costs beyond its work: GetServerInfo (no model work) one at a time, ABC CBA again.
  const small = [0, 0, 0];
  const smallCalls = 500;
  for (let p = 0; p < 4; p++) {
    for (const i of p % 2 === 0 ? [0, 1, 2] : [2, 1, 0]) {
      const t0 = performance.now();
      for (let n = 0; n < smallCalls; n++) await clients[i]!.getServerInfo();
      small[i]! += (performance.now() - t0) / smallCalls / 4;
    }
  }
  for (const c of clients) c.close();
  console.log(`\nOne instance per path, gRPC at concurrency 4, ${passes} passes of ${docs.length} documents each (ABC CBA):`);
  console.log('| path | docs/s | p50 ms | p90 ms | failed | docs/s vs plaintext |\n| --- | --- | --- | --- | --- | --- |');
  tallies.forEach((t, i) =>
    console.log(
      `| ${names[i]} | ${rate(t).toFixed(2)} | ${quantile(t.ms, 0.5).toFixed(0)} | ${quantile(t.ms, 0.9).toFixed(0)} | ${t.failures} | ${((rate(t) / rate(tallies[0]!) - 1) * 100).toFixed(1)} % |`,
    ),
  );
  console.log(
    `Per call without model work (GetServerInfo, one at a time, 4 × ${smallCalls}): ` +
      names.map((n, i) => `${n} ${small[i]!.toFixed(3)} ms`).join(', ') +
      `; over a document's p50 of ${quantile(tallies[0]!.ms, 0.5).toFixed(0)} ms the difference is ` +
      `${(((Math.max(small[1]!, small[2]!) - small[0]!) / quantile(tallies[0]!.ms, 0.5)) * 100).toFixed(3)} %`,
  );
  const worst = Math.min(rate(tallies[1]!), rate(tallies[2]!)) / rate(tallies[0]!);
  console.log(`TLS + tokens cost ${((1 - worst) * 100).toFixed(1)} % of throughput at worst (acceptance: at most 3 %)`);
} finally {
  for (const s of servers) {
    s.child.kill('SIGTERM');
    await once(s.child, 'exit');
  }
}
