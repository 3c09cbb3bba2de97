import { mkdtempSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { OcrCallError, OcrClient } from '../../src/client/index.js';
import { freePort } from '../../src/dev/free-port.js';
import { spawnGateway, spawnServer, type GatewayProcess, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { DEFAULT_OPEN_ENDED_LIMITS } from '../../src/server/open-ended-calls.js';
import { namespaceUnavailable, perClientRefusals } from '../support/ipv6-neighbours.js';
import { logLines } from '../support/log-lines.js';
import { open, WATCH } from '../support/open-ended-streams.js';

/** The `source` of each `refused` line a process has logged, by the route (HTTP, --metrics-port) or method (gRPC) it names. */
function refusalSources(stderr: string): Record<string, string | undefined> {
  const refused = logLines<{ msg: string; source?: string; route?: string; method?: string }>(stderr).filter((l) => l.msg === 'refused');
  return Object.fromEntries(refused.map((l) => [l.route ?? l.method ?? '', l.source]));
}

/**
 * Loopback has one IPv6 address, ::1: what these show is that each per-client limit keys ::1 by
 * its /64 (`::/64`), as its refusals and log lines name it, while IPv4 callers keep their own.
 */
describe('ocr serve --client-ipv6-prefix 64: each per-client limit counts an IPv6 caller by its /64', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  const sessions: http2.ClientHttp2Session[] = [];
  before(async () => {
    // A quota of one call in 100 s: the second call of a caller is over it however slow this machine is.
    server = await spawnServer([
      '--host',
      '::',
      '--workers',
      '1',
      '--client-ipv6-prefix',
      '64',
      '--quota-rps',
      '0.01',
      '--quota-burst',
      '1',
      '--log-level',
      'info',
    ]);
  });
  after(() => {
    sessions.forEach((s) => s.destroy());
    server?.child.kill('SIGKILL');
  });

  it("refuses ::1's health watches past the limit of its network, naming it; an IPv4 caller's are its own", async () => {
    const { perClient } = DEFAULT_OPEN_ENDED_LIMITS;
    const session = http2.connect(`http://[::1]:${server.port}`);
    sessions.push(session);
    for (let i = 0; i < perClient; i++) expect((await open(session, WATCH)).refusal).to.equal(undefined);
    const refused = await open(session, WATCH);
    expect(refused.refusal).to.equal('8');
    expect(refused.message).to.include(`(${perClient} open from your network (::/64); the limits are`);
    const ipv4 = http2.connect(`http://127.0.0.1:${server.port}`);
    sessions.push(ipv4);
    expect((await open(ipv4, WATCH)).refusal).to.equal(undefined);
  });

  it("counts ::1's calls against the quota of ::/64, over gRPC and HTTP alike, and logs them by it; 127.0.0.1 has its own", async () => {
    const call = async (target: string): Promise<string> => {
      const client = new OcrClient(target, { maxAttempts: 1, deadlineMs: 10_000 });
      try {
        await client.getServerInfo();
        return 'OK';
      } catch (err) {
        if (err instanceof OcrCallError) return err.code;
        throw err;
      } finally {
        client.close();
      }
    };
    expect(await call(`[::1]:${server.port}`)).to.equal('OK');
    expect((await fetch(`http://[::1]:${server.httpPort}/api/info`)).status).to.equal(429);
    expect(await call(`[::1]:${server.port}`)).to.equal('RESOURCE_EXHAUSTED');
    expect(await call(`127.0.0.1:${server.port}`)).to.equal('OK');
    // The gRPC refusal, of the same source and kind, is counted with the HTTP one's line (refusal-log.ts).
    await waitFor(() => '/api/info' in refusalSources(server.stderr()), 5000, 'the refusal logged');
    const sources = refusalSources(server.stderr());
    expect(sources).to.deep.include({ '/api/info': 'addr:::/64' });
    expect(new Set(Object.values(sources))).to.deep.equal(new Set(['addr:::/64']));
  });

  it('says the prefix in its start line', () => {
    const serving = logLines<{ msg: string; limits?: { clientIpv6Prefix?: number } }>(server.stderr()).find((l) => l.msg === 'serving');
    expect(serving?.limits?.clientIpv6Prefix).to.equal(64);
  });
});

describe('--client-ipv6-prefix 64 where tokens are on: refusals are logged by the caller’s /64', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let gateway: GatewayProcess;
  let metricsPort: number;
  before(async () => {
    const keys = path.join(mkdtempSync(path.join(os.tmpdir(), 'ipv6-keys-')), 'keys.json');
    writeFileSync(keys, JSON.stringify([{ name: 'ops', hash: hashApiKey(generateApiKey()), scopes: ['ocr:read'] }]));
    metricsPort = await freePort();
    const flags = ['--host', '::', '--client-ipv6-prefix', '64', '--api-keys', keys, '--log-level', 'info'];
    server = await spawnServer([...flags, '--workers', '1', '--metrics-port', String(metricsPort)]);
    gateway = await spawnGateway([...flags, '--target', `127.0.0.1:${server.port}`]);
  });
  after(() => {
    server?.child.kill('SIGKILL');
    gateway?.child.kill('SIGKILL');
  });

  it('on the gRPC port, the HTTP port and --metrics-port of an instance, and on a gateway', async () => {
    // Each of another kind (no token, an unknown one, a malformed one): the refusal log writes each kind's first.
    const client = new OcrClient(`[::1]:${server.port}`, { maxAttempts: 1, deadlineMs: 10_000 });
    try {
      const refusal = await client.getServerInfo().then(
        () => 'OK',
        (err: OcrCallError) => err.code,
      );
      expect(refusal).to.equal('UNAUTHENTICATED');
    } finally {
      client.close();
    }
    const unknownKey = { authorization: `Bearer ${generateApiKey()}` };
    expect((await fetch(`http://[::1]:${server.httpPort}/api/info`, { headers: unknownKey })).status).to.equal(401);
    expect((await fetch(`http://[::1]:${metricsPort}/metrics`, { headers: { authorization: 'Basic abc' } })).status).to.equal(401);
    expect((await fetch(`http://[::1]:${new URL(gateway.url).port}/api/info`)).status).to.equal(401);
    await waitFor(() => Object.keys(refusalSources(server.stderr())).length === 3, 5000, "the instance's three refusals logged");
    await waitFor(() => Object.keys(refusalSources(gateway.stderr())).length === 1, 5000, "the gateway's refusal logged");
    expect(refusalSources(server.stderr())).to.deep.equal({
      GetServerInfo: 'addr:::/64',
      '/api/info': 'addr:::/64',
      '/metrics': 'addr:::/64',
    });
    expect(refusalSources(gateway.stderr())).to.deep.equal({ '/api/info': 'addr:::/64' });
  });
});

/**
 * Callers of one /64 with many addresses, as a host with SLAAC or privacy addresses has, in a
 * network namespace of their own (test/support/ipv6-neighbours.ts): only where this runs as root.
 */
describe('--client-ipv6-prefix on connections from many addresses of one /64', function () {
  this.timeout(180_000);
  const sources = [
    '2001:db8:1:2::a',
    '2001:db8:1:2::a',
    '2001:db8:1:2:ffff::b',
    '2001:db8:1:2:ffff::b',
    '2001:db8:1:3::a',
    '2001:db8:1:3::a',
    '127.0.0.2',
    '127.0.0.2',
    '127.0.0.3',
    '127.0.0.3',
  ];
  before(function () {
    const unavailable = namespaceUnavailable();
    if (unavailable) {
      console.log(`      skipped: ${unavailable}`);
      this.skip();
    }
  });

  const bound = ['--max-connections-per-client', '2'];

  it('64: the addresses of a /64 share its --max-connections-per-client; another /64 and IPv4 callers keep their own', async () => {
    expect(await perClientRefusals({ command: 'serve', args: [...bound, '--client-ipv6-prefix', '64'], sources })).to.equal(2);
  });

  it('128, the default: each address has its own', async () => {
    expect(await perClientRefusals({ command: 'serve', args: bound, sources })).to.equal(0);
  });

  it("on a gateway's port alike", async () => {
    expect(await perClientRefusals({ command: 'gateway', args: [...bound, '--client-ipv6-prefix', '64'], sources })).to.equal(2);
  });
});
