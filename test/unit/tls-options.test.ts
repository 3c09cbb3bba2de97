import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { CommanderError } from 'commander';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { runCli, type CommandActions } from '../../src/cli/program.js';
import { clientTls, serverTls } from '../../src/cli/tls-options.js';
import { tlsChannel } from '../../src/client/tls.js';
import { OcrServiceService, ServerInfo, type OcrServiceServer } from '../../src/gen/ocr/v1/ocr.js';
import { bindLoopback } from '../../src/dev/free-port.js';
import { makePki, type TestPki } from '../support/certificates.js';

const clientEntry = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/client/index.js');

/** The options each command's action receives, parse errors thrown. */
async function parsed(args: string[]): Promise<Record<string, unknown>> {
  let got: Record<string, unknown> = {};
  const record = async (options: unknown): Promise<number> => ((got = options as Record<string, unknown>), 0);
  // Asserted: commands added later need no entry here.
  const actions = {
    serve: record,
    recognize: async (_files: string[], options: unknown) => record(options),
    info: record,
    cluster: record,
    prepareModels: record,
    gateway: record,
  } as CommandActions;
  await runCli(args, actions, (program) => program.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} }));
  return got;
}

describe('TLS options of the command line and the SDK', () => {
  let pki: TestPki;
  before(() => (pki = makePki()));
  after(() => pki?.remove());

  it('serve takes the server side; recognize, info and gateway the client side', async () => {
    expect(
      await parsed([
        'serve',
        '--tls-cert',
        's.pem',
        '--tls-key',
        's.key',
        '--tls-client-ca',
        'ca.pem',
        '--tls-client-crl',
        'ca.crl',
        '--consul-tls-server-name',
        'ocr.internal',
        '--consul-tls-skip-verify',
        // The checks' TLS settings go with a Consul to register in.
        '--consul',
        'http://127.0.0.1:8500',
      ]),
    ).to.include({
      tlsCert: 's.pem',
      tlsKey: 's.key',
      tlsClientCa: 'ca.pem',
      tlsClientCrl: 'ca.crl',
      consulTlsServerName: 'ocr.internal',
      consulTlsSkipVerify: true,
    });
    const client = { tlsCa: 'ca.pem', tlsCert: 'c.pem', tlsKey: 'c.key', tlsServerName: 'ocr.internal' };
    const flags = ['--tls-ca', 'ca.pem', '--tls-cert', 'c.pem', '--tls-key', 'c.key', '--tls-server-name', 'ocr.internal'];
    expect(await parsed(['recognize', ...flags, 'x.png'])).to.include(client);
    expect(await parsed(['info', ...flags])).to.include(client);
    expect(await parsed(['gateway', ...flags])).to.include(client);
    expect(await parsed(['info', '--tls'])).to.include({ tls: true });
    let error: unknown;
    await parsed(['serve', '--tls-server-name', 'x']).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(CommanderError);
  });

  it('serve: TLS settings from the flags, or what is missing', () => {
    expect(serverTls({})).to.equal(undefined);
    expect(serverTls({ tlsCert: 'a', tlsKey: 'b', tlsClientCa: 'c' })).to.deep.equal({ certFile: 'a', keyFile: 'b', clientCaFile: 'c' });
    expect(() => serverTls({ tlsCert: 'a' })).to.throw(/--tls-cert and --tls-key go together/);
    expect(() => serverTls({ tlsClientCa: 'c' })).to.throw(/--tls-client-ca needs TLS: add --tls-cert and --tls-key/);
    expect(() => serverTls({ consulTlsSkipVerify: true })).to.throw(/are for a TLS instance/);
    expect(serverTls({ tlsCert: 'a', tlsKey: 'b', tlsClientCa: 'c', tlsClientCrl: 'd' })).to.deep.equal({
      certFile: 'a',
      keyFile: 'b',
      clientCaFile: 'c',
      clientCrlFile: 'd',
    });
    // A CRL revokes certificates of a client CA: without one it would be ignored, so it is refused.
    for (const opts of [{ tlsCert: 'a', tlsKey: 'b', tlsClientCrl: 'd' }, { tlsClientCrl: 'd' }]) {
      expect(() => serverTls(opts)).to.throw(/--tls-client-crl revokes client certificates of --tls-client-ca: add --tls-client-ca FILE/);
    }
  });

  it('clients: files read into the SDK option; TLS implied by any flag; a missing file named', () => {
    expect(clientTls({})).to.equal(undefined);
    expect(clientTls({ tls: true })).to.deep.equal({});
    expect(clientTls({ tlsServerName: 'ocr.internal' })).to.deep.equal({ serverName: 'ocr.internal' });
    const tls = clientTls({ tlsCa: pki.ca.cert, tlsCert: pki.client.cert, tlsKey: pki.client.key });
    expect(tls?.ca).to.deep.equal(pki.read(pki.ca.cert));
    expect(tls?.key).to.deep.equal(pki.read(pki.client.key));
    expect(() => clientTls({ tlsKey: pki.client.key })).to.throw(/--tls-cert and --tls-key go together/);
    expect(() => clientTls({ tlsCa: '/nonexistent/ca.pem' })).to.throw(/cannot read --tls-ca \/nonexistent\/ca.pem/);
    const der = path.join(pki.dir, 'ca.der');
    writeFileSync(der, Buffer.from([0x30, 0x82, 0x01, 0x0a]));
    expect(() => clientTls({ tlsCa: der })).to.throw(`--tls-ca ${der} is not PEM (no "-----BEGIN" line)`);
    // The flag, not the SDK option the CLI user never set.
    expect(() => clientTls({ tlsServerName: 'a b' })).to.throw('--tls-server-name must be a host name or address, got "a b"');
  });

  it('the SDK: credentials and the server-name override, or plaintext', () => {
    expect(tlsChannel(undefined)).to.equal(null);
    expect(tlsChannel(false)).to.equal(null);
    const secure = tlsChannel({ ca: pki.read(pki.ca.cert), serverName: 'ocr.internal' })!;
    expect(secure.credentials._isSecure()).to.equal(true);
    expect(secure.options).to.deep.equal({ 'grpc.ssl_target_name_override': 'ocr.internal' });
    expect(tlsChannel(true)!.options).to.deep.equal({});
    expect(() => tlsChannel({ cert: 'x' })).to.throw(/tls.cert and tls.key go together/);
    expect(() => tlsChannel({ serverName: 'a b' })).to.throw(/tls.serverName must be a host name/);
  });

  it("the SDK: refuses a CA, certificate or key that is not PEM at once, saying to pass a file's contents, not its path", () => {
    expect(() => tlsChannel({ ca: '/etc/ocr/ca.pem' })).to.throw(
      RangeError,
      'tls.ca must be PEM text or its bytes; got "/etc/ocr/ca.pem": to use a file, pass its contents (await readFile(path))',
    );
    expect(() => tlsChannel({ ca: new Uint8Array([0x30, 0x82, 0x01]) })).to.throw(
      RangeError,
      /^tls\.ca must be PEM text or its bytes; got no "-----BEGIN" line/,
    );
    expect(() => tlsChannel({ cert: pki.read(pki.ca.cert), key: 'alice-key.pem' })).to.throw(
      RangeError,
      /^tls\.key must be PEM text or its bytes; got "alice-key\.pem"/,
    );
  });

  it("the SDK: a target by IP address is checked against the certificate's IP, with no DEP0123 warning (no IP sent as SNI)", async () => {
    const server = new Server();
    const fake: Partial<OcrServiceServer> = {
      getServerInfo: (_call, callback) => callback(null, ServerInfo.fromPartial({ instanceId: 'tls-1' })),
    };
    server.addService(OcrServiceService, fake as OcrServiceServer);
    const tls = ServerCredentials.createSsl(null, [{ cert_chain: pki.read(pki.server.cert), private_key: pki.read(pki.server.key) }]);
    const port = await bindLoopback(server, tls);
    // Node warns once per process: a fresh one, so that no earlier test has used up the warning.
    const script = `
      import { OcrClient } from ${JSON.stringify(clientEntry)};
      const warnings = [];
      process.on('warning', (w) => warnings.push(w.code ?? w.name));
      const ca = ${JSON.stringify(pki.read(pki.ca.cert).toString())};
      const ask = (target, tls) => {
        const client = new OcrClient(target, { tls: { ca, ...tls }, maxAttempts: 1, deadlineMs: 5000 });
        return client.getServerInfo().then((info) => info.instanceId, (err) => err.message).finally(() => client.close());
      };
      const answers = [
        await ask('127.0.0.1:${port}', {}),
        await ask('ipv4:127.0.0.1:${port}', { serverName: '127.0.0.1' }),
        await ask('127.0.0.1:${port}', { serverName: '127.0.0.2' }),
        // A list of servers is checked against its first entry's host, as an ipv4: list is.
        await ask('127.0.0.1:${port},localhost:${port}', {}),
      ];
      await new Promise((resolve) => setImmediate(resolve));
      console.log(JSON.stringify({ answers, warnings }));`;
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
      const { answers, warnings } = JSON.parse(stdout) as { answers: string[]; warnings: string[] };
      expect(answers.slice(0, 2)).to.deep.equal(['tls-1', 'tls-1']);
      expect(answers[2]).to.match(/does not carry the name the client checks/);
      expect(answers[3]).to.equal('tls-1');
      expect(warnings).to.deep.equal([]);
    } finally {
      server.forceShutdown();
    }
  });
});
