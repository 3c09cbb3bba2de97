import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { expect } from 'chai';
import { pino } from 'pino';
import {
  credentials,
  makeGenericClientConstructor,
  Server,
  status,
  type ChannelCredentials,
  type handleUnaryCall,
  type ServiceDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { exposureWarnings, isLoopback, tlsProtection } from '../../src/server/exposure-warning.js';
import { peerIdentity, socketPeerIdentity, type PeerIdentity } from '../../src/server/peer-identity.js';
import { checkTlsMaterial, contextOptions, ServerCertificates, type ServerTlsConfig } from '../../src/server/server-tls.js';
import { createLogger, type Logger } from '../../src/server/logger.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { makePki, type Issued, type TestPki } from '../support/certificates.js';
import { listenHttpApp } from '../support/http-app.js';

/** A one-method service: answers the caller's identity, after `holdMs` when asked to wait. */
const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString() || 'null'),
};
const WHO: ServiceDefinition = {
  whoAmI: {
    path: '/test.Who/WhoAmI',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};
type Reply = { identity: PeerIdentity | null };
interface WhoClient {
  whoAmI(req: { holdMs?: number }, options: { deadline: number }, cb: (err: ServiceError | null, r?: Reply) => void): void;
  close(): void;
}
const WhoClientCtor = makeGenericClientConstructor(WHO, 'Who');

describe('server TLS (server-tls.ts, peer-identity.ts) on a bare grpc-js server', function () {
  this.timeout(30_000);
  let pki: TestPki;
  const logger = createLogger(process.env.OCR_TEST_LOG ?? 'silent', {});
  before(() => (pki = makePki()));
  after(() => pki?.remove());

  const filesOf = (i: { cert: string; key: string }) => ({ cert: pki.read(i.cert), key: pki.read(i.key) });

  async function serve(config: ServerTlsConfig): Promise<{ port: number; certificates: ServerCertificates; close(): Promise<void> }> {
    const certificates = new ServerCertificates({ pollMs: 100, settleMs: 20, ...config }, logger);
    const server = new Server();
    const whoAmI: handleUnaryCall<{ holdMs?: number }, Reply> = (call, callback) => {
      setTimeout(() => callback(null, { identity: peerIdentity(call) }), call.request.holdMs ?? 0);
    };
    server.addService(WHO, { whoAmI });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', certificates.grpcCredentials(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return {
      port,
      certificates,
      close: async () => {
        certificates.close();
        await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      },
    };
  }

  function call(port: number, creds: ChannelCredentials, holdMs = 0, options: Record<string, string> = {}): Promise<Reply> {
    const client = new WhoClientCtor(`127.0.0.1:${port}`, creds, options) as unknown as WhoClient;
    return new Promise<Reply>((resolve, reject) =>
      client.whoAmI({ holdMs }, { deadline: Date.now() + 5000 }, (err, r) => {
        client.close();
        if (err) reject(err);
        else resolve(r!);
      }),
    ).finally(() => client.close());
  }

  const trusting = (client?: { cert: string; key: string }): ChannelCredentials =>
    client
      ? credentials.createSsl(pki.read(pki.ca.cert), pki.read(client.key), pki.read(client.cert))
      : credentials.createSsl(pki.read(pki.ca.cert));

  /** The serial number of the certificate a new TLS connection to `port` is shown. */
  function servedSerial(port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect(
        { host: '127.0.0.1', port, ca: pki.read(pki.ca.cert), ALPNProtocols: ['h2'], ...filesOf(pki.client) },
        () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.destroy();
        },
      );
      socket.once('error', reject);
    });
  }

  /** A logger at info whose lines are kept, parsed, in `lines`. */
  function capturedLog(): { logger: Logger; lines: { level: number; msg: string; file?: string }[] } {
    const lines: { level: number; msg: string; file?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string; file?: string });
        done();
      },
    });
    return { logger: pino({ level: 'info' }, sink), lines };
  }

  const refusal = async (promise: Promise<unknown>): Promise<ServiceError> => {
    try {
      await promise;
    } catch (err) {
      return err as ServiceError;
    }
    throw new Error('the call was served');
  };

  it('checks a pair before serving it: key of another certificate, expired, not PEM, each named', () => {
    const config = { certFile: 'server.crt', keyFile: 'server.key' };
    expect(checkTlsMaterial(filesOf(pki.server), config).serialNumber).to.equal(pki.server.serial);
    expect(() => checkTlsMaterial({ cert: pki.read(pki.server.cert), key: pki.read(pki.client.key) }, config)).to.throw(
      /the private key in server.key is not the key of the certificate in server.crt/,
    );
    expect(() => checkTlsMaterial(filesOf(pki.expiredClient), config)).to.throw(/the certificate in server.crt expired on/);
    expect(() => checkTlsMaterial({ cert: Buffer.from('nonsense'), key: pki.read(pki.server.key) }, config)).to.throw(
      /server.crt holds no PEM certificate/,
    );
    expect(() => checkTlsMaterial({ cert: pki.read(pki.server.cert), key: Buffer.from('x') }, config)).to.throw(
      /server.key holds no PEM private key/,
    );
    expect(() => new ServerCertificates({ certFile: path.join(pki.dir, 'nope.crt'), keyFile: pki.server.key }, logger)).to.throw(
      /cannot read --tls-cert .*nope.crt/,
    );
  });

  it('TLS: a client trusting the CA is served (no identity without client certificates); a plaintext one is refused', async () => {
    const s = await serve({ certFile: pki.server.cert, keyFile: pki.server.key });
    try {
      expect((await call(s.port, trusting())).identity).to.equal(null);
      // Even a client that offers a certificate: the server asked for none.
      expect((await call(s.port, trusting(pki.client))).identity).to.equal(null);
      expect((await refusal(call(s.port, credentials.createInsecure()))).code).to.equal(status.UNAVAILABLE);
      // A client that does not trust the CA refuses the server.
      expect((await refusal(call(s.port, credentials.createSsl()))).code).to.equal(status.UNAVAILABLE);
    } finally {
      await s.close();
    }
  });

  it('mutual TLS: the subject of a verified client certificate is the identity; none, a foreign or an expired one is refused', async () => {
    const s = await serve({ certFile: pki.server.cert, keyFile: pki.server.key, clientCaFile: pki.ca.cert });
    try {
      const { identity } = await call(s.port, trusting(pki.client));
      expect(identity).to.include({
        subject: 'O=Example, CN=alice',
        commonName: 'alice',
        issuer: 'CN=OCR Test CA',
        serialNumber: 'C11E01',
      });
      expect(identity!.fingerprint256).to.match(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      for (const bad of [undefined, pki.foreignClient, pki.expiredClient]) {
        const err = await refusal(call(s.port, trusting(bad)));
        expect(err.code, `${bad?.cert}: ${err.details}`).to.equal(status.UNAVAILABLE);
      }
      expect((await refusal(call(s.port, credentials.createInsecure()))).code).to.equal(status.UNAVAILABLE);
    } finally {
      await s.close();
    }
  });

  it("HTTPS with the same options: the client certificate's subject from the request's socket; none refused", async () => {
    const certificates = new ServerCertificates({ certFile: pki.server.cert, keyFile: pki.server.key, clientCaFile: pki.ca.cert }, logger);
    const web = await serveHttps(certificates);
    try {
      expect(await web.get(pki.client)).to.include({ subject: 'O=Example, CN=alice', commonName: 'alice' });
      for (const bad of [undefined, pki.foreignClient, pki.expiredClient]) {
        expect(await refusedHttps(web.get(bad)), bad?.cert ?? 'no certificate').to.equal(true);
      }
    } finally {
      certificates.close();
      web.close();
    }
  });

  it('answers a plain HTTP request on the HTTPS port 400, saying to send it over HTTPS, where the connection was closed unanswered', async () => {
    const certificates = new ServerCertificates({ certFile: pki.server.cert, keyFile: pki.server.key }, logger);
    const app = await listenHttpApp({}, { https: certificates.httpsOptions() });
    const get = (client: typeof http | typeof https): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = client.get({ host: '127.0.0.1', port: app.port, path: '/healthz', ca: pki.read(pki.ca.cert), agent: false }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
      });
    try {
      const plain = await get(http);
      expect(plain.status).to.equal(400);
      expect(JSON.parse(plain.body)).to.deep.equal({
        code: 3,
        msg: "this port serves HTTPS: send the request to https://, trusting the CA that signed the server's certificate (curl --cacert FILE)",
        error: 'INVALID_ARGUMENT',
      });
      expect((await get(https)).status).to.equal(200);
    } finally {
      certificates.close();
      await app.close();
    }
  });

  it('serves a certificate replaced on disk to new connections, finishes the call in flight, and keeps the old pair when the new one is bad', async () => {
    const certFile = path.join(pki.dir, 'live.crt');
    const keyFile = path.join(pki.dir, 'live.key');
    copyFileSync(pki.server.cert, certFile);
    copyFileSync(pki.server.key, keyFile);
    const s = await serve({ certFile, keyFile, clientCaFile: pki.ca.cert });
    const changes: string[] = [];
    s.certificates.onChange((m) => changes.push(m.serialNumber));
    try {
      expect(await servedSerial(s.port)).to.equal(pki.server.serial);
      const inFlight = call(s.port, trusting(pki.client), 1500);
      await new Promise((r) => setTimeout(r, 200));

      // Renewal as tools do it: new files renamed over the old ones.
      const next = pki.issueServer('server-2', '5E4F02');
      copyFileSync(next.key, `${keyFile}.tmp`);
      copyFileSync(next.cert, `${certFile}.tmp`);
      renameSync(`${keyFile}.tmp`, keyFile);
      renameSync(`${certFile}.tmp`, certFile);
      await waitFor(() => changes.includes('5E4F02'), 5000, 'the new certificate to be loaded');
      expect(await servedSerial(s.port)).to.equal('5E4F02');
      expect((await inFlight).identity?.commonName).to.equal('alice');
      expect((await call(s.port, trusting(pki.client))).identity?.commonName).to.equal('alice');

      // A key that is not the certificate's: refused, the current pair kept and still served.
      writeFileSync(keyFile, pki.read(pki.client.key));
      await new Promise((r) => setTimeout(r, 400));
      await s.certificates.check();
      expect(s.certificates.current.serialNumber).to.equal('5E4F02');
      expect(await servedSerial(s.port)).to.equal('5E4F02');
      // Fixed: taken.
      const third = pki.issueServer('server-3', '5E4F03');
      writeFileSync(certFile, pki.read(third.cert));
      writeFileSync(keyFile, pki.read(third.key));
      await waitFor(() => changes.includes('5E4F03'), 5000, 'the third certificate to be loaded');
      expect(await servedSerial(s.port)).to.equal('5E4F03');
      expect(changes).to.deep.equal(['5E4F02', '5E4F03']);
    } finally {
      await s.close();
    }
  });

  /** An https.Server on the certificates, following them as the server's HTTP port does; GET / answers the caller's identity. */
  async function serveHttps(
    certificates: ServerCertificates,
  ): Promise<{ get(client?: Issued): Promise<PeerIdentity | null>; close(): void }> {
    const server = https.createServer(certificates.httpsOptions(), (req, res) => {
      res.end(JSON.stringify(socketPeerIdentity(req.socket)));
    });
    certificates.onChange((material) => server.setSecureContext(contextOptions(material)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      get: (client) =>
        new Promise((resolve, reject) => {
          const req = https.get(
            { host: '127.0.0.1', port, ca: pki.read(pki.ca.cert), agent: false, ...(client ? filesOf(client) : {}) },
            (res) => {
              let body = '';
              res.on('data', (d: Buffer) => (body += d.toString()));
              res.on('end', () => resolve(JSON.parse(body) as PeerIdentity | null));
            },
          );
          req.on('error', reject);
        }),
      close: () => server.close(),
    };
  }

  /** Whether `get` was refused: a TLS alert or a connection closed, under TLS 1.3 after the client's handshake. */
  const refusedHttps = (get: Promise<unknown>): Promise<boolean> =>
    get.then(
      () => false,
      () => true,
    );

  it('checks a CRL before serving it: one that does not parse, or past its nextUpdate, is named; its nextUpdate is kept', () => {
    const config = { certFile: 'server.crt', keyFile: 'server.key', clientCaFile: 'ca.crt', clientCrlFile: 'clients.crl' };
    const files = { ...filesOf(pki.server), ca: pki.read(pki.ca.cert) };
    const crl = pki.read(pki.crl('check.crl', [pki.revokedClient], 48));
    const material = checkTlsMaterial({ ...files, crl }, config);
    expect(material.crl?.equals(crl)).to.equal(true);
    expect(contextOptions(material).crl).to.have.length(1);
    // openssl ca writes whole seconds.
    expect(Math.abs(material.crlNextUpdate!.getTime() - (Date.now() + 48 * 3600_000))).to.be.below(120_000);
    expect(() =>
      checkTlsMaterial({ ...files, crl: Buffer.from('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n') }, config),
    ).to.throw(/clients.crl holds no PEM CRL/);
    expect(() => checkTlsMaterial({ ...files, crl: pki.read(pki.ca.cert) }, config)).to.throw(/clients.crl holds no PEM CRL/);
    // Past its nextUpdate, OpenSSL refuses every client certificate.
    expect(() => checkTlsMaterial({ ...files, crl: pki.read(pki.crl('stale.crl', [], -1)) }, config)).to.throw(
      /the CRL in clients.crl is past its nextUpdate, .*: every client certificate would be refused; renew it/,
    );
    // Several CRLs in one file: the earliest nextUpdate counts.
    const both = Buffer.concat([crl, pki.read(pki.crl('soon.crl', [], 2))]);
    expect(checkTlsMaterial({ ...files, crl: both }, config).crlNextUpdate!.getTime()).to.be.below(Date.now() + 3 * 3600_000);
    const bad = path.join(pki.dir, 'bad.crl');
    writeFileSync(bad, 'not a CRL');
    expect(() => new ServerCertificates({ ...filesConfig(), clientCaFile: pki.ca.cert, clientCrlFile: bad }, logger)).to.throw(
      new RegExp(`${bad} holds no PEM CRL`),
    );
    expect(() => new ServerCertificates({ ...filesConfig(), clientCrlFile: bad }, logger)).to.throw(
      /a client CRL needs the client CA it revokes for \(--tls-client-ca\)/,
    );
  });

  const filesConfig = (): ServerTlsConfig => ({ certFile: pki.server.cert, keyFile: pki.server.key });

  it('mutual TLS with a CRL: a revoked client certificate is refused on gRPC and HTTPS, another of the same CA served', async () => {
    const clientCrlFile = pki.crl('revoking.crl', [pki.revokedClient]);
    const s = await serve({ ...filesConfig(), clientCaFile: pki.ca.cert, clientCrlFile });
    const web = await serveHttps(s.certificates);
    try {
      expect((await call(s.port, trusting(pki.client))).identity?.commonName).to.equal('alice');
      const err = await refusal(call(s.port, trusting(pki.revokedClient)));
      expect(err.code, err.details).to.equal(status.UNAVAILABLE);
      expect((await web.get(pki.client))?.subject).to.equal('O=Example, CN=alice');
      expect(await refusedHttps(web.get(pki.revokedClient))).to.equal(true);
    } finally {
      web.close();
      await s.close();
    }
  });

  it('a file of several CRLs: each is used (Node reads one from each buffer it is given)', async () => {
    // The other CA's first: were it the only one read, the CA's clients would have no CRL and all be refused.
    const clientCrlFile = path.join(pki.dir, 'both.crl');
    writeFileSync(
      clientCrlFile,
      Buffer.concat([pki.read(pki.crl('other.crl', [], 72, pki.otherCa)), pki.read(pki.crl('carol.crl', [pki.revokedClient]))]),
    );
    const s = await serve({ ...filesConfig(), clientCaFile: pki.ca.cert, clientCrlFile });
    try {
      expect(contextOptions(s.certificates.current).crl).to.have.length(2);
      expect((await call(s.port, trusting(pki.client))).identity?.commonName).to.equal('alice');
      expect((await refusal(call(s.port, trusting(pki.revokedClient)))).code).to.equal(status.UNAVAILABLE);
    } finally {
      await s.close();
    }
  });

  it('a CRL replaced on disk revokes for new connections on both ports; a bad one is logged and the last good one kept', async () => {
    const clientCrlFile = path.join(pki.dir, 'live.crl');
    copyFileSync(pki.crl('none.crl', []), clientCrlFile);
    const s = await serve({ ...filesConfig(), clientCaFile: pki.ca.cert, clientCrlFile });
    const web = await serveHttps(s.certificates);
    const log = capturedLog();
    s.certificates.logger = log.logger;
    let changes = 0;
    s.certificates.onChange(() => changes++);
    try {
      expect((await call(s.port, trusting(pki.revokedClient))).identity?.commonName).to.equal('carol');
      expect((await web.get(pki.revokedClient))?.subject).to.equal('O=Example, CN=carol');

      const revoking = pki.crl('renewed.crl', [pki.revokedClient]);
      copyFileSync(revoking, `${clientCrlFile}.tmp`);
      renameSync(`${clientCrlFile}.tmp`, clientCrlFile);
      await waitFor(() => changes === 1, 5000, 'the new CRL to be loaded');
      // Only the CRL changed: the log says so, not that the certificate was reloaded.
      await waitFor(() => log.lines.some((l) => l.level === 30), 5000, 'the reload to be logged');
      expect(log.lines.filter((l) => l.level === 30).map((l) => l.msg)).to.deep.equal([
        'TLS client CRL reloaded: new connections get it, open ones keep theirs',
      ]);
      expect((await refusal(call(s.port, trusting(pki.revokedClient)))).code).to.equal(status.UNAVAILABLE);
      expect(await refusedHttps(web.get(pki.revokedClient))).to.equal(true);
      expect((await call(s.port, trusting(pki.client))).identity?.commonName).to.equal('alice');

      // Half written: refused, the revoking CRL kept on both ports.
      writeFileSync(clientCrlFile, pki.read(revoking).subarray(0, 100));
      await new Promise((r) => setTimeout(r, 400));
      await s.certificates.check();
      expect(changes).to.equal(1);
      expect(s.certificates.current.crl?.equals(pki.read(revoking))).to.equal(true);
      expect((await refusal(call(s.port, trusting(pki.revokedClient)))).code).to.equal(status.UNAVAILABLE);
      expect(await refusedHttps(web.get(pki.revokedClient))).to.equal(true);
      expect((await web.get(pki.client))?.subject).to.equal('O=Example, CN=alice');
    } finally {
      web.close();
      await s.close();
    }
  });

  it('warns, naming the file, of a CRL within a day of its nextUpdate; one further off is quiet', () => {
    const { logger: capturing, lines } = capturedLog();
    const warnings = (): typeof lines => lines.filter((l) => l.level === 40);
    const config = { ...filesConfig(), clientCaFile: pki.ca.cert };
    new ServerCertificates({ ...config, clientCrlFile: pki.crl('later.crl', [], 72) }, capturing).close();
    expect(warnings()).to.deep.equal([]);
    const soon = pki.crl('near.crl', [], 2);
    new ServerCertificates({ ...config, clientCrlFile: soon }, capturing).close();
    expect(warnings()).to.have.length(1);
    expect(warnings()[0]).to.include({ file: soon });
    expect(warnings()[0]!.msg).to.match(/within a day of its nextUpdate: renew it, for past it every client certificate is refused/);
  });

  it('warns of a non-loopback listener without TLS, saying how to turn it on; loopback stays quiet', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'].every(isLoopback)).to.equal(true);
    expect(['0.0.0.0', '::', '10.0.0.5', 'ocr.internal'].some(isLoopback)).to.equal(false);
    expect(exposureWarnings('127.0.0.1', [tlsProtection(false)])).to.deep.equal([]);
    expect(exposureWarnings('0.0.0.0', [tlsProtection(true)])).to.deep.equal([]);
    const [warning] = exposureWarnings('0.0.0.0', [tlsProtection(false)]);
    expect(warning).to.match(/^serving 0\.0\.0\.0, which other machines can reach, without TLS: .*--tls-cert FILE --tls-key FILE/);
    // It sends the reader to the README's section by its title.
    expect(warning).to.include('(README, "TLS and mutual TLS")');
  });
});
