import { expect } from 'chai';
import { runCli } from '../../src/dev/server-process.js';
import { freePort } from '../../src/dev/free-port.js';
import { makePki } from '../support/certificates.js';
import { startHealthServer, type HealthServer } from '../support/health-server.js';

/** `ocr health`, as a container's HEALTHCHECK runs it: the exit status follows the health service's answer. */
describe('ocr health', function () {
  this.timeout(30_000);
  let server: HealthServer;
  before(async () => {
    server = await startHealthServer({ '': 'SERVING', 'ocr.v1.OcrService': 'SERVING' });
  });
  after(() => server?.close());

  it('exits 0 while ocr.v1.OcrService is SERVING, 1 once it is NOT_SERVING (draining)', async () => {
    const target = `127.0.0.1:${server.port}`;
    const serving = await runCli(['health', '--target', target]);
    expect(serving.code, serving.stderr).to.equal(0);
    expect(serving.stdout).to.equal(`${target} ocr.v1.OcrService: SERVING\n`);

    server.health.setStatus('ocr.v1.OcrService', 'NOT_SERVING');
    const draining = await runCli(['health', '--target', target]);
    expect(draining.code).to.equal(1);
    expect(draining.stdout).to.equal(`${target} ocr.v1.OcrService: NOT_SERVING\n`);
    // The server as a whole, asked for by name '': still SERVING here.
    expect((await runCli(['health', '--target', target, '--service', ''])).code).to.equal(0);
  });

  it('exits 1 with the reason when nothing answers or the service is unknown', async () => {
    const down = await runCli(['health', '--target', `127.0.0.1:${await freePort()}`, '--deadline-ms', '2000']);
    expect(down.code).to.equal(1);
    expect(down.stderr).to.match(
      /^ocr health: 127\.0\.0\.1:\d+ ocr\.v1\.OcrService: no server of the target could be reached \(connect ECONNREFUSED 127\.0\.0\.1:\d+\): check that the servers run/,
    );
    const unknown = await runCli(['health', '--target', `127.0.0.1:${server.port}`, '--service', 'no.such.Service']);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.match(/unknown for service no\.such\.Service/);
    // A typo in --service reads as a server down, unless the command says which names it takes.
    expect(unknown.stderr).to.match(/: the servers check ocr\.v1\.OcrService, and '' for the server as a whole \(--service\)\n$/);
  });

  it('says to use --tls where the server serves TLS, and to leave it out where it does not (ocr health and ocr info)', async () => {
    const pki = makePki();
    const tlsServer = await startHealthServer(
      { '': 'SERVING', 'ocr.v1.OcrService': 'SERVING' },
      {
        cert: pki.read(pki.server.cert),
        key: pki.read(pki.server.key),
      },
    );
    try {
      const tlsTarget = `127.0.0.1:${tlsServer.port}`;
      for (const command of ['health', 'info']) {
        const plain = await runCli([command, '--target', tlsTarget, '--deadline-ms', '5000']);
        expect(plain.code).to.equal(1);
        expect(plain.stderr).to.match(
          /as a TLS server does to a plaintext client\): if the servers use TLS, connect with TLS .*--tls, or --tls-ca FILE/,
        );
        const secure = await runCli([command, '--target', `127.0.0.1:${server.port}`, '--tls-ca', pki.ca.cert, '--deadline-ms', '5000']);
        expect(secure.code).to.equal(1);
        expect(secure.stderr).to.match(/if the servers use plaintext, connect without TLS .*--tls and --tls-ca/);
      }
      const ok = await runCli(['health', '--target', tlsTarget, '--tls-ca', pki.ca.cert]);
      expect(ok.code, ok.stderr).to.equal(0);
    } finally {
      await tlsServer.close();
      pki.remove();
    }
  });
});
