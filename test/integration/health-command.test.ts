import path from 'node:path';
import { expect } from 'chai';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
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

  it('names --target where no server of the target is reached, as recognize and info do', async () => {
    const target = `127.0.0.1:${await freePort()}`;
    const hint =
      /: check that the servers run and that the target names them, then try again \(ocr: --target HOST:PORT, 127\.0\.0\.1:50051 unless given\)\n$/;
    const line = path.join(EVAL_DEV, 'lines', 'l0000.png');
    for (const command of [['health'], ['info'], ['recognize', line]]) {
      const r = await runCli([...command, '--target', target, '--deadline-ms', '5000']);
      expect(r.code, command[0]).to.equal(1);
      expect(r.stderr, command[0]).to.match(hint);
    }
  });

  it('refuses a target that is a URL, names no port or one out of range, as recognize and info do, not as a server down', async () => {
    const url = `http://127.0.0.1:${server.port}`;
    const r = await runCli(['health', '--target', url]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.match(
      new RegExp(
        `^ocr: target "http://127\\.0\\.0\\.1:${server.port}" is a URL; a gRPC target has no http:// : use "127\\.0\\.0\\.1:${server.port}"`,
      ),
    );
    expect((await runCli(['health', '--target', 'localhost'])).stderr).to.match(
      /^ocr: target "localhost" names no port \(gRPC would dial 443/,
    );
    expect((await runCli(['health', '--target', '127.0.0.1:99999'])).stderr).to.match(
      /^ocr: target "127\.0\.0\.1:99999" names port 99999, outside 1 to 65535/,
    );
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
