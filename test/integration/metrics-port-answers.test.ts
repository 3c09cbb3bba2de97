import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AccessControl } from '../../src/auth/access-control.js';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { ConnectionGuard } from '../../src/server/connection-guard.js';
import { serveMetrics } from '../../src/server/metrics-endpoint.js';

/** --metrics-port's server alone, with tokens on, over loopback. */
describe('--metrics-port answers', function () {
  this.timeout(20_000);
  let server: Server;
  let access: AccessControl;
  let base: string;
  const admin = generateApiKey();

  before(async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'metrics-keys-')), 'keys.json');
    writeFileSync(file, JSON.stringify([{ name: 'prometheus', hash: hashApiKey(admin), scopes: ['ocr:admin'] }]));
    access = new AccessControl({ auth: { apiKeysFile: file } });
    const logger = pino({ level: 'silent' });
    const registry = new Registry();
    server = await serveMetrics(registry, access, new ConnectionGuard({}, registry, logger), '127.0.0.1', 0, { paceMs: 0, logger });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server?.close();
    access?.close();
  });

  it('say what they are, and are never sniffed into another type: the scrape, its refusals, another path or method', async () => {
    const answers = [
      await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${admin}` } }),
      await fetch(`${base}/metrics`),
      await fetch(`${base}/metrics`, { headers: { authorization: 'Basic abc' } }),
      await fetch(`${base}/other`),
      await fetch(`${base}/metrics`, { method: 'POST' }),
    ];
    expect(answers.map((a) => a.status)).to.deep.equal([200, 401, 401, 404, 405]);
    for (const answer of answers) {
      expect(answer.headers.get('content-type'), answer.url).to.match(/^text\/plain/);
      expect(answer.headers.get('x-content-type-options'), `${answer.status}`).to.equal('nosniff');
    }
  });
});
