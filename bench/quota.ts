/**
 * `npm run bench:quota`: does a quota of N calls a second hold, and are other callers left alone?
 * One `ocr serve` with API keys: `limited` with a quota of --rps (burst --burst), `other` without
 * one. `other` runs alone first (its reference rate), then both for --seconds: `limited` at
 * concurrency 4 as fast as it is let (a refused call waits out the server's retry hint, as the SDK
 * does), `other` as before. Cheap calls (GetServerInfo), so that the quota, not the machine, is
 * the limit. Prints the admitted rate against N (acceptance: within 5 % over 30 s) and `other`'s
 * rate and refusals beside its reference.
 *   node dist/bench/quota.js [--rps 20] [--burst 20] [--seconds 30]
 */
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateApiKey, hashApiKey } from '../src/auth/api-keys.js';
import { OcrCallError, OcrClient } from '../src/client/index.js';
import { spawnServer } from '../src/dev/server-process.js';

const { values } = parseArgs({
  options: {
    rps: { type: 'string', default: '20' },
    burst: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '30' },
  },
});
const rps = Number(values.rps);
const burst = Number(values.burst);
const seconds = Number(values.seconds);

interface Tally {
  ok: number;
  refused: number;
  failed: number;
}

/** `concurrency` loops of calls until `endAt`; a refusal over quota waits its retry hint. */
async function drive(client: OcrClient, concurrency: number, endAt: number, tally: Tally): Promise<void> {
  const loop = async (): Promise<void> => {
    while (Date.now() < endAt) {
      try {
        await client.getServerInfo();
        if (Date.now() <= endAt) tally.ok++;
      } catch (err) {
        if (err instanceof OcrCallError && err.code === 'RESOURCE_EXHAUSTED') {
          tally.refused++;
          const wait = Number(err.metadata.get('grpc-retry-pushback-ms')[0] ?? 10);
          await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(wait, 1), endAt - Date.now())));
        } else {
          tally.failed++;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-quota-'));
const keys = { limited: generateApiKey(), other: generateApiKey() };
const keyFile = path.join(dir, 'keys.json');
writeFileSync(
  keyFile,
  JSON.stringify([
    { name: 'limited', hash: hashApiKey(keys.limited), scopes: ['ocr:read'], quota: { rps, burst } },
    { name: 'other', hash: hashApiKey(keys.other), scopes: ['ocr:read'] },
  ]),
);
const server = await spawnServer(['--api-keys', keyFile, '--workers', '1', '--no-http']);
const target = `127.0.0.1:${server.port}`;
const limited = new OcrClient(target, { token: keys.limited, maxAttempts: 1 });
const other = new OcrClient(target, { token: keys.other, maxAttempts: 1 });
try {
  // Warm both paths up (JIT, connections) before anything is measured.
  await drive(other, 1, Date.now() + 2000, { ok: 0, refused: 0, failed: 0 });
  const referenceS = Math.min(10, seconds);
  const alone: Tally = { ok: 0, refused: 0, failed: 0 };
  await drive(other, 1, Date.now() + referenceS * 1000, alone);

  const both = { limited: { ok: 0, refused: 0, failed: 0 }, other: { ok: 0, refused: 0, failed: 0 } };
  const started = Date.now();
  const endAt = started + seconds * 1000;
  await Promise.all([drive(limited, 4, endAt, both.limited), drive(other, 1, endAt, both.other)]);
  const elapsed = (Date.now() - started) / 1000;

  const admitted = both.limited.ok / elapsed;
  const error = (admitted - rps) / rps;
  const otherAlone = alone.ok / referenceS;
  const otherBeside = both.other.ok / elapsed;
  console.log(`quota ${rps}/s, burst ${burst}, over ${elapsed.toFixed(1)} s (GetServerInfo, one server, one worker):`);
  console.log('| caller | OK calls | OK/s | refused | other failures |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  console.log(`| limited (4 loops) | ${both.limited.ok} | ${admitted.toFixed(2)} | ${both.limited.refused} | ${both.limited.failed} |`);
  console.log(`| other, beside it | ${both.other.ok} | ${otherBeside.toFixed(1)} | ${both.other.refused} | ${both.other.failed} |`);
  console.log(`| other, alone (${referenceS} s before) | ${alone.ok} | ${otherAlone.toFixed(1)} | ${alone.refused} | ${alone.failed} |`);
  const holds = Math.abs(error) <= 0.05;
  const unaffected = both.other.refused === 0 && both.other.failed === 0;
  console.log(
    `admitted ${admitted.toFixed(2)}/s against ${rps}/s: ${(error * 100).toFixed(2)} % (acceptance ±5 %: ${holds ? 'met' : 'NOT met'}); ` +
      `other caller: ${unaffected ? 'no refusal' : 'REFUSED or failed'}, ${((otherBeside / otherAlone) * 100).toFixed(0)} % of its rate alone`,
  );
  process.exitCode = holds && unaffected ? 0 : 1;
} finally {
  limited.close();
  other.close();
  server.child.kill('SIGTERM');
  await once(server.child, 'exit');
}
