import { once } from 'node:events';
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { runCli, spawnGateway, spawnServer, type GatewayProcess, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { makePki, type TestPki } from '../support/certificates.js';
import { logLines } from '../support/log-lines.js';
import { request, servedSerial } from '../support/tls-requests.js';

const image = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));

/** The gateway's warnings (level 40), read once it has stopped: at its listening line they may still be buffered. */
async function warningsUntilStopped(gateway: GatewayProcess): Promise<string[]> {
  const closed = once(gateway.child, 'close');
  gateway.child.kill('SIGTERM');
  await closed;
  return logLines<{ level: number; msg: string }>(gateway.stderr())
    .filter((l) => l.level === 40)
    .map((l) => l.msg);
}

const CLIENT_CERT_ONLY =
  /^--tls-cert is the client certificate .* the gateway's port serves plain HTTP; .*--https-cert FILE --https-key FILE/;

/** `ocr gateway --https-cert --https-key`: HTTPS on the gateway's own port, toward a TLS instance. */
describe('ocr gateway serving HTTPS (--https-cert, --https-key)', function () {
  this.timeout(240_000);
  let pki: TestPki;
  let ca: Buffer;
  let instance: ServerProcess;
  const gateways: GatewayProcess[] = [];
  /** Toward the instance over TLS, with a client certificate too (which the instance does not ask for). */
  const towardInstance = (): string[] => [
    '--target',
    `127.0.0.1:${instance.port}`,
    '--tls-ca',
    pki.ca.cert,
    '--tls-cert',
    pki.client.cert,
    '--tls-key',
    pki.client.key,
  ];

  before(async () => {
    pki = makePki();
    ca = pki.read(pki.ca.cert);
    instance = await spawnServer(['--workers', '1', '--tls-cert', pki.server.cert, '--tls-key', pki.server.key]);
  });
  after(() => {
    for (const g of gateways) if (g.child.exitCode === null) g.child.kill('SIGKILL');
    if (instance?.child.exitCode === null) instance.child.kill('SIGKILL');
    pki?.remove();
  });

  it('answers an HTTPS POST /api/ocr trusted by its CA, plain HTTP as an instance answers it, and gives no warning', async () => {
    const gateway = await spawnGateway([...towardInstance(), '--https-cert', pki.server.cert, '--https-key', pki.server.key]);
    gateways.push(gateway);
    expect(gateway.url).to.match(/^https:\/\//);
    const port = Number(new URL(gateway.url).port);

    const answer = await request(port, '/api/ocr', { ca, body: image });
    expect(answer.status, answer.body).to.equal(200);
    const json = JSON.parse(answer.body) as { instance_id: string; data: { text: string }[] };
    expect(json.data.map((l) => l.text).join('')).to.contain('各区县人民政府');
    expect(json.instance_id).to.equal(instance.instanceId);

    const plain = await request(port, '/healthz', { plain: true });
    expect(plain.status).to.equal(400);
    expect(plain).to.deep.equal(await request(instance.httpPort!, '/healthz', { plain: true }));

    expect((await warningsUntilStopped(gateway)).filter((m) => CLIENT_CERT_ONLY.test(m))).to.deep.equal([]);
  });

  it('with --tls-cert and no --https-cert, serves plain HTTP and warns once that --tls-cert is the client certificate', async () => {
    const gateway = await spawnGateway(towardInstance());
    gateways.push(gateway);
    expect(gateway.url).to.match(/^http:\/\//);
    expect((await request(Number(new URL(gateway.url).port), '/healthz', { plain: true })).status).to.equal(200);
    expect((await warningsUntilStopped(gateway)).filter((m) => CLIENT_CERT_ONLY.test(m))).to.have.length(1);
  });

  it('serves a certificate replaced on disk to new connections without a restart', async () => {
    const liveCert = path.join(pki.dir, 'gateway-live.crt');
    const liveKey = path.join(pki.dir, 'gateway-live.key');
    copyFileSync(pki.server.cert, liveCert);
    copyFileSync(pki.server.key, liveKey);
    const gateway = await spawnGateway([...towardInstance(), '--https-cert', liveCert, '--https-key', liveKey]);
    gateways.push(gateway);
    const port = Number(new URL(gateway.url).port);
    expect(await servedSerial(port, ca)).to.equal(pki.server.serial);

    // As renewal tools do it: new files renamed over the old ones, the key first.
    const next = pki.issueServer('gateway-next', '6A7B01');
    copyFileSync(next.key, `${liveKey}.new`);
    copyFileSync(next.cert, `${liveCert}.new`);
    renameSync(`${liveKey}.new`, liveKey);
    renameSync(`${liveCert}.new`, liveCert);
    await waitFor(async () => (await servedSerial(port, ca)) === '6A7B01', 15_000, "the gateway's port to serve the new certificate");
    expect((await request(port, '/healthz', { ca })).status).to.equal(200);
    gateway.child.kill('SIGTERM');
  });

  it('refuses to start, naming --https-cert, when the file cannot be read', async () => {
    const missing = path.join(pki.dir, 'missing.crt');
    const result = await runCli([
      'gateway',
      '--target',
      `127.0.0.1:${instance.port}`,
      '--https-cert',
      missing,
      '--https-key',
      pki.server.key,
    ]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain(`cannot read --https-cert ${missing}`);
  });
});
