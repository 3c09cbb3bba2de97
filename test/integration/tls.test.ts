import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import { OcrClient, type ClientTls, type OcrCallError } from '../../src/client/index.js';
import { freePort } from '../../src/dev/free-port.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { runCli, spawnGateway, spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { makePki, type Issued, type TestPki } from '../support/certificates.js';
import { ConsulDouble, type HealthServiceEntry } from '../support/consul-double.js';
import { consulRequest, healthService } from '../support/consul.js';
import { logLines } from '../support/log-lines.js';
import { readAnswer, request, servedSerial, type Answer } from '../support/tls-requests.js';

const LINE = path.join(EVAL_DEV, 'lines', 'l0000.png');
const image = readFileSync(LINE);

/**
 * The warnings (level 40) a server logged whose message `matches`, read once it has ended: the log
 * is written asynchronously, so at the listening line a warning may still be in the logger's buffer,
 * which a SIGKILL would lose (it did, once, in CI); a SIGTERM ends the server once its loggers have
 * written it all.
 */
async function warningsUntilStopped(server: ServerProcess, matches: (msg: string) => boolean): Promise<string[]> {
  const closed = once(server.child, 'close');
  server.child.kill('SIGTERM');
  await closed;
  return logLines<{ level: number; msg: string }>(server.stderr())
    .filter((l) => l.level === 40 && matches(l.msg))
    .map((l) => l.msg);
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('it succeeded');
}

const text = (answer: Answer): string => (JSON.parse(answer.body) as { data: { text: string }[] }).data.map((l) => l.text).join('');

/**
 * TLS and mutual TLS end to end: `ocr serve --tls-*` processes, the SDK and the CLI over gRPC,
 * HTTPS clients, Consul doubles whose checks use TLS as an agent does, a certificate replaced on disk.
 */
describe('TLS and mutual TLS', function () {
  this.timeout(300_000);
  let pki: TestPki;
  let ca: Buffer;
  let pair: (i: Issued) => { cert: Buffer; key: Buffer };
  /** Checks with the agent's TLS for checks: the CA and a client certificate (enable_agent_tls_for_checks). */
  let consul: ConsulDouble;
  let consulAddress: string;
  let tlsServer: ServerProcess;
  let mtlsServer: ServerProcess;
  let liveCert: string;
  let liveKey: string;
  const tlsService = `ocr-tls-${process.pid}`;
  const mtlsService = `ocr-mtls-${process.pid}`;
  const children: ChildProcess[] = [];

  before(async () => {
    pki = makePki();
    ca = pki.read(pki.ca.cert);
    pair = (i) => ({ cert: pki.read(i.cert), key: pki.read(i.key) });
    consul = new ConsulDouble({ checkTls: { ca, ...pair(pki.client) } });
    consulAddress = (await consul.start()).address;
    // The TLS instance serves copies, which the reload test replaces.
    liveCert = path.join(pki.dir, 'live.crt');
    liveKey = path.join(pki.dir, 'live.key');
    copyFileSync(pki.server.cert, liveCert);
    copyFileSync(pki.server.key, liveKey);
    [tlsServer, mtlsServer] = await Promise.all([
      spawnServer([
        '--workers',
        '1',
        '--log-level',
        'info',
        '--tls-cert',
        liveCert,
        '--tls-key',
        liveKey,
        '--consul',
        consulAddress,
        '--service-name',
        tlsService,
      ]),
      spawnServer([
        '--workers',
        '1',
        '--tls-cert',
        pki.server.cert,
        '--tls-key',
        pki.server.key,
        '--tls-client-ca',
        pki.ca.cert,
        '--consul',
        consulAddress,
        '--service-name',
        mtlsService,
        '--consul-tls-server-name',
        'localhost',
      ]),
    ]);
    children.push(tlsServer.child, mtlsServer.child);
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await consul?.close();
    pki?.remove();
  });

  describe('TLS (--tls-cert, --tls-key)', () => {
    it('serves gRPC and HTTPS to clients that trust its CA; plaintext and untrusting clients are refused', async () => {
      const client = new OcrClient(`127.0.0.1:${tlsServer.port}`, { tls: { ca }, maxAttempts: 1 });
      try {
        const answer = await client.recognize(image);
        expect(answer.instanceId).to.equal(tlsServer.instanceId);
        expect(answer.lines.length).to.be.greaterThan(0);
      } finally {
        client.close();
      }
      const https = await request(tlsServer.httpPort!, '/api/ocr', { ca, body: image });
      expect(https.status, https.body).to.equal(200);
      expect(text(https).length).to.be.greaterThan(0);
      expect((await request(tlsServer.httpPort!, '/healthz', { ca })).status).to.equal(200);

      // Each told what to set: TLS, and the CA that Node's roots lack.
      for (const [options, advice] of [
        [{}, /connect with TLS/],
        [{ tls: true }, /does not trust the CA .*--tls-ca FILE/],
        [{ tls: { ca, serverName: 'ocr.example' } }, /does not carry the name .*--tls-server-name NAME/],
      ] as const) {
        const c = new OcrClient(`127.0.0.1:${tlsServer.port}`, { ...options, maxAttempts: 1, deadlineMs: 5000 });
        const err = await failure(c.getServerInfo()).finally(() => c.close());
        expect((err as OcrCallError).code, err.message).to.equal('UNAVAILABLE');
        expect(err.message).to.match(advice);
      }
      // Plain HTTP to the HTTPS port, and HTTPS without the CA.
      const plain = await fetch(`http://127.0.0.1:${tlsServer.httpPort}/healthz`).then(
        (r) => `answered ${r.status}`,
        (err: Error) => err.message,
      );
      expect(plain).not.to.match(/^answered 2/);
      expect((await failure(request(tlsServer.httpPort!, '/healthz'))).message).to.match(/self[- ]signed|unable to verify|certificate/i);
    });

    it('gives a TLS connection the receive windows of a plaintext one: 16 MiB a connection, so that calls side by side do not wait on each other', async () => {
      const session = http2.connect(`https://localhost:${tlsServer.port}`, { ca });
      try {
        await once(session, 'remoteSettings');
        // HTTP/2's default for the whole connection is 64 KiB; the server widens it with a WINDOW_UPDATE.
        await waitFor(() => session.state.remoteWindowSize === 16 * 1024 * 1024, 5000, 'the connection window of 16 MiB');
      } finally {
        session.destroy();
      }
    });

    it('the CLI: --tls-ca, or a refusal that says so without it', async () => {
      const ok = await runCli(['info', '--target', `127.0.0.1:${tlsServer.port}`, '--tls-ca', pki.ca.cert]);
      expect(ok.code, ok.stderr).to.equal(0);
      expect((JSON.parse(ok.stdout) as { instanceId: string }).instanceId).to.equal(tlsServer.instanceId);
      const plain = await runCli(['info', '--target', `127.0.0.1:${tlsServer.port}`, '--deadline-ms', '5000']);
      expect(plain.code).to.equal(1);
      expect(plain.stderr).to.match(/UNAVAILABLE/);
      expect(plain.stderr).to.match(/if the servers use TLS, connect with TLS .*--tls, or --tls-ca FILE/);
      const health = await runCli(['health', '--target', `127.0.0.1:${tlsServer.port}`, '--tls-ca', pki.ca.cert]);
      expect(health.code, health.stderr).to.equal(0);
      expect(health.stdout).to.contain('ocr.v1.OcrService: SERVING');
      expect((await runCli(['health', '--target', `127.0.0.1:${tlsServer.port}`, '--deadline-ms', '3000'])).code).to.equal(1);
      const half = await runCli(['info', '--target', `127.0.0.1:${tlsServer.port}`, '--tls-cert', pki.client.cert]);
      expect(half.code).to.equal(1);
      expect(half.stderr).to.match(/--tls-cert and --tls-key go together/);
    });

    it('registers GRPCUseTLS and an https:// HTTP check, which pass; consul:// works over TLS with the server name set', async () => {
      await waitFor(
        async () => (await healthService(consulAddress, tlsService, 'passing')).body.length === 1,
        20_000,
        'the TLS instance to pass',
      );
      const [entry] = (await healthService(consulAddress, tlsService)).body;
      const checks = entry!.Checks.filter((c) => c.ServiceID === tlsServer.instanceId);
      expect(checks.map((c) => [c.Type, c.Status])).to.deep.equal([
        ['grpc', 'passing'],
        ['http', 'passing'],
      ]);
      expect(checks[1]!.Output).to.contain(`HTTP GET https://127.0.0.1:${tlsServer.httpPort}/healthz: 200`);

      const target = `consul://${new URL(consulAddress).host}/${tlsService}`;
      // The instances are dialled by address; the name checked is the service name unless set.
      const named = new OcrClient(target, { tls: { ca, serverName: 'localhost' }, maxAttempts: 1 });
      try {
        expect((await named.getServerInfo()).instanceId).to.equal(tlsServer.instanceId);
      } finally {
        named.close();
      }
      const unnamed = new OcrClient(target, { tls: { ca }, maxAttempts: 1, deadlineMs: 5000 });
      const err = await failure(unnamed.getServerInfo()).finally(() => unnamed.close());
      expect((err as OcrCallError).code).to.equal('UNAVAILABLE');
      expect(err.message).to.match(new RegExp(`${tlsService}|altnames|certificate`, 'i'));

      const cli = await runCli([
        'recognize',
        '--json',
        '--target',
        target,
        '--tls-ca',
        pki.ca.cert,
        '--tls-server-name',
        'localhost',
        LINE,
      ]);
      expect(cli.code, cli.stderr).to.equal(0);
      expect((JSON.parse(cli.stdout) as { instance: string }).instance).to.equal(tlsServer.instanceId);
    });
  });

  describe('mutual TLS (--tls-client-ca)', () => {
    const client = (): { cert: Buffer; key: Buffer } => pair(pki.client);

    it('serves a client with a certificate of its CA on both ports', async () => {
      const tlsOptions: ClientTls = { ca, ...client() };
      const c = new OcrClient(`127.0.0.1:${mtlsServer.port}`, { tls: tlsOptions, maxAttempts: 1 });
      try {
        expect((await c.recognize(image)).lines.length).to.be.greaterThan(0);
      } finally {
        c.close();
      }
      const answer = await request(mtlsServer.httpPort!, '/api/ocr', { ca, client: client(), body: image });
      expect(answer.status, answer.body).to.equal(200);
      const cli = await runCli([
        'info',
        '--target',
        `127.0.0.1:${mtlsServer.port}`,
        '--tls-ca',
        pki.ca.cert,
        '--tls-cert',
        pki.client.cert,
        '--tls-key',
        pki.client.key,
      ]);
      expect(cli.code, cli.stderr).to.equal(0);
      const mutual = ['--tls-ca', pki.ca.cert, '--tls-server-name', 'localhost'];
      const health = await runCli([
        'health',
        '--target',
        `127.0.0.1:${mtlsServer.port}`,
        ...mutual,
        '--tls-cert',
        pki.client.cert,
        '--tls-key',
        pki.client.key,
      ]);
      expect(health.code, health.stderr).to.equal(0);
      expect((await runCli(['health', '--target', `127.0.0.1:${mtlsServer.port}`, ...mutual, '--deadline-ms', '3000'])).code).to.equal(1);
    });

    it('refuses, on both ports, a client with no certificate, one from another CA, and an expired one', async () => {
      const cases: [string, { cert: Buffer; key: Buffer } | undefined][] = [
        ['no certificate', undefined],
        ['another CA', pair(pki.foreignClient)],
        ['expired', pair(pki.expiredClient)],
      ];
      for (const [what, cert] of cases) {
        const c = new OcrClient(`127.0.0.1:${mtlsServer.port}`, { tls: { ca, ...(cert ?? {}) }, maxAttempts: 1, deadlineMs: 5000 });
        const grpcErr = await failure(c.recognize(image)).finally(() => c.close());
        expect((grpcErr as OcrCallError).code, `${what}: ${grpcErr.message}`).to.equal('UNAVAILABLE');
        const httpErr = await failure(request(mtlsServer.httpPort!, '/api/ocr', { ca, ...(cert ? { client: cert } : {}), body: image }));
        expect(httpErr.message, what).to.match(/certificate|alert|socket hang up|ECONNRESET|EPIPE/i);
      }
    });

    it("Consul's checks pass with the agent's client certificate, and fail without one", async () => {
      await waitFor(
        async () => (await healthService(consulAddress, mtlsService, 'passing')).body.length === 1,
        20_000,
        'the mTLS instance to pass',
      );
      // An agent with only the CA (no enable_agent_tls_for_checks client certificate): both checks critical.
      const bare = new ConsulDouble({ checkTls: { ca } });
      const { address } = await bare.start();
      try {
        const reply = await consulRequest(address, '/v1/agent/service/register', {
          method: 'PUT',
          body: {
            ID: 'bare',
            Name: 'bare',
            Checks: [
              {
                GRPC: `127.0.0.1:${mtlsServer.port}/ocr.v1.OcrService`,
                GRPCUseTLS: true,
                TLSServerName: 'localhost',
                Interval: '1s',
                Timeout: '2s',
              },
              { HTTP: `https://127.0.0.1:${mtlsServer.httpPort}/healthz`, TLSServerName: 'localhost', Interval: '1s', Timeout: '2s' },
            ],
          },
        });
        expect(reply.status, reply.text).to.equal(200);
        const ran = (e: HealthServiceEntry | undefined): boolean =>
          (e?.Checks.filter((c) => c.ServiceID === 'bare') ?? []).every((c) => c.Output !== '');
        await waitFor(async () => ran((await healthService(address, 'bare')).body[0]), 10_000, 'both checks to run');
        const checks = (await healthService(address, 'bare')).body[0]!.Checks.filter((c) => c.ServiceID === 'bare');
        expect(checks.map((c) => c.Status)).to.deep.equal(['critical', 'critical']);
        for (const c of checks) expect(c.Output).to.match(/certificate|alert|handshake|socket hang up|ECONNRESET/i);
      } finally {
        await bare.close();
      }
    });

    it('ocr gateway reaches the instances over mutual TLS through consul://', async () => {
      const target = `consul://${new URL(consulAddress).host}/${mtlsService}`;
      const gateway = await spawnGateway([
        '--target',
        target,
        '--tls-ca',
        pki.ca.cert,
        '--tls-cert',
        pki.client.cert,
        '--tls-key',
        pki.client.key,
        '--tls-server-name',
        'localhost',
      ]);
      children.push(gateway.child);
      const body = new FormData();
      body.append('image', new Blob([image]), 'line.png');
      const res = await fetch(`${gateway.url}/api/ocr`, { method: 'POST', body });
      const json = (await res.json()) as { instance_id?: string; msg: string };
      expect(res.status, json.msg).to.equal(200);
      expect(json.instance_id).to.equal(mtlsServer.instanceId);
      gateway.child.kill('SIGTERM');
    });
  });

  describe('a client CRL (--tls-client-crl)', () => {
    /** Whether a client with `who`'s certificate is served, on gRPC and on HTTPS: [grpc, https]. */
    async function served(port: number, httpPort: number, who: Issued): Promise<[boolean, boolean]> {
      const c = new OcrClient(`127.0.0.1:${port}`, { tls: { ca, ...pair(who) }, maxAttempts: 1, deadlineMs: 5000 });
      const grpc = await c.getServerInfo().then(
        () => true,
        (err: OcrCallError) => (expect(err.code, err.message).to.equal('UNAVAILABLE'), false),
      );
      c.close();
      const answer = await request(httpPort, '/healthz', { ca, client: pair(who) }).then(
        (a) => a.status === 200,
        () => false,
      );
      return [grpc, answer];
    }

    it('refuses a revoked client certificate on both ports, serves another of the CA, and follows a CRL replaced on disk', async () => {
      const crlFile = path.join(pki.dir, 'serve.crl');
      copyFileSync(pki.crl('serve-carol.crl', [pki.revokedClient]), crlFile);
      const args = ['--workers', '1', '--log-level', 'info', '--tls-cert', pki.server.cert, '--tls-key', pki.server.key];
      const server = await spawnServer([...args, '--tls-client-ca', pki.ca.cert, '--tls-client-crl', crlFile]);
      children.push(server.child);
      try {
        expect(await served(server.port, server.httpPort!, pki.client)).to.deep.equal([true, true]);
        expect(await served(server.port, server.httpPort!, pki.revokedClient)).to.deep.equal([false, false]);

        // A renewed CRL that revokes alice, not carol: new connections follow it without a restart.
        copyFileSync(pki.crl('serve-alice.crl', [pki.client]), `${crlFile}.new`);
        renameSync(`${crlFile}.new`, crlFile);
        await waitFor(
          async () => (await served(server.port, server.httpPort!, pki.client)).every((ok) => !ok),
          15_000,
          'both ports to refuse the newly revoked certificate',
        );
        expect(await served(server.port, server.httpPort!, pki.revokedClient)).to.deep.equal([true, true]);
      } finally {
        server.child.kill('SIGTERM');
      }
    });

    it('a CRL that does not parse fails the start naming the file; a CRL without --tls-client-ca is refused', async () => {
      const bad = path.join(pki.dir, 'bad.crl');
      writeFileSync(bad, 'not a CRL');
      const tls = ['--workers', '1', '--tls-cert', pki.server.cert, '--tls-key', pki.server.key];
      const started = await runCli(['serve', ...tls, '--tls-client-ca', pki.ca.cert, '--tls-client-crl', bad]);
      expect(started.code).not.to.equal(0);
      expect(started.stderr).to.contain(`${bad} holds no PEM CRL`);
      const alone = await runCli(['serve', ...tls, '--tls-client-crl', bad]);
      expect(alone.code).not.to.equal(0);
      expect(alone.stderr).to.match(/--tls-client-crl revokes client certificates of --tls-client-ca: add --tls-client-ca FILE/);
    });
  });

  describe('safe defaults', () => {
    it('a server on a non-loopback address without TLS warns, naming the flags; one on loopback does not', async () => {
      const open = await spawnServer(['--host', '0.0.0.0', '--workers', '1', '--no-http']);
      children.push(open.child);
      const warnings = await warningsUntilStopped(open, (msg) => /without TLS/.test(msg));
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.match(/^serving 0\.0\.0\.0, which other machines can reach, without TLS: .*--tls-cert FILE --tls-key FILE/);
      expect(tlsServer.stderr()).not.to.contain('without TLS');
    });

    it('a TLS server with --metrics-port on a non-loopback address warns that this port is plain HTTP', async () => {
      const metricsPort = await freePort();
      const args = ['--workers', '1', '--no-http', '--tls-cert', pki.server.cert, '--tls-key', pki.server.key];
      const exposed = await spawnServer(['--host', '0.0.0.0', '--metrics-port', String(metricsPort), ...args]);
      children.push(exposed.child);
      const warnings = await warningsUntilStopped(exposed, (msg) => msg.includes('--metrics-port'));
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.match(
        /^serving 0\.0\.0\.0, which other machines can reach, without TLS on --metrics-port: its \/metrics is plain HTTP .*leave --metrics-port off and scrape \/metrics on the HTTPS port/,
      );
      expect(tlsServer.stderr()).not.to.contain('--metrics-port');
    });
  });

  describe('a certificate replaced on disk', () => {
    it('is served to new connections on both ports without a restart, while calls in flight across the swap complete', async () => {
      expect(await servedSerial(tlsServer.port, ca)).to.equal(pki.server.serial);
      expect(await servedSerial(tlsServer.httpPort!, ca)).to.equal(pki.server.serial);

      // In flight on gRPC: a tile stream opened before the swap, its tile sent after it.
      const client = new OcrClient(`127.0.0.1:${tlsServer.port}`, { tls: { ca }, deadlineMs: 120_000 });
      const stream = client.recognizeTiles();
      const answers = (async () => {
        const got = [];
        for await (const message of stream) got.push(message);
        return got;
      })();
      // In flight on HTTP: an upload whose body is half sent before the swap.
      let finishUpload = (): void => {};
      const upload = new Promise<Answer>((resolve, reject) => {
        const req = https.request(
          {
            host: '127.0.0.1',
            port: tlsServer.httpPort,
            path: '/api/ocr',
            method: 'POST',
            ca,
            agent: false,
            headers: { 'content-type': 'image/png', 'content-length': image.length },
          },
          (res) => readAnswer(res, resolve),
        );
        req.on('error', reject);
        req.write(image.subarray(0, 100));
        finishUpload = () => req.end(image.subarray(100));
      });
      // Both connections made and the first bytes through before the swap.
      await new Promise((r) => setTimeout(r, 300));

      // A renewal as tools do it: new files, renamed over the old ones.
      const next = pki.issueServer('renewed', '5E4F77');
      copyFileSync(next.key, `${liveKey}.new`);
      copyFileSync(next.cert, `${liveCert}.new`);
      renameSync(`${liveKey}.new`, liveKey);
      renameSync(`${liveCert}.new`, liveCert);
      await waitFor(
        async () => (await servedSerial(tlsServer.port, ca)) === '5E4F77',
        15_000,
        'the gRPC port to serve the new certificate',
      );
      await waitFor(async () => (await servedSerial(tlsServer.httpPort!, ca)) === '5E4F77', 15_000, 'the HTTP port to serve it');

      const { width, height } = await sharp(image).metadata();
      await stream.write({ imageId: 'a', x: 0, y: 0, imageWidth: width!, imageHeight: height!, tileIndex: 0, tileCount: 1, image });
      stream.end();
      finishUpload();
      const got = await answers;
      client.close();
      expect(got.some((m) => m.imageId === 'a' && m.result?.$case === 'image')).to.equal(true);
      const uploaded = await upload;
      expect(uploaded.status, uploaded.body).to.equal(200);
      expect(text(uploaded)).to.equal(text(await request(tlsServer.httpPort!, '/api/ocr', { ca, body: image })));
      expect(tlsServer.stderr()).to.contain('TLS certificate reloaded');
    });
  });
});
