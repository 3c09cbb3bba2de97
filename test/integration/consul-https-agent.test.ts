/**
 * A consul:// target whose agent serves its HTTP API over HTTPS only, as Consul is run where ACLs
 * are on: the SDK reaches it when told as Consul's own tools are told (CONSUL_HTTP_ADDR=https://…,
 * CONSUL_HTTP_SSL, CONSUL_CACERT) or by the channel option ocr.consul_tls, and says how when it is not.
 */
import { execFile } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Server } from '@grpc/grpc-js';
import { OcrCallError, OcrClient } from '../../src/client/index.js';
import { bindLoopback } from '../../src/dev/free-port.js';
import { OcrServiceService, ServerInfo, type OcrServiceServer } from '../../src/gen/ocr/v1/ocr.js';
import { makePki, type TestPki } from '../support/certificates.js';
import { ConsulDouble } from '../support/consul-double.js';

const clientEntry = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/client/index.js');

/** The instance id a client of `target` is answered, or its error's code and details. */
async function ask(client: OcrClient): Promise<string> {
  try {
    return (await client.getServerInfo({ deadlineMs: 10_000 })).instanceId;
  } catch (err) {
    expect(err).to.be.instanceOf(OcrCallError);
    return `${(err as OcrCallError).code}: ${(err as OcrCallError).details}`;
  } finally {
    client.close();
  }
}

/** The same from a process of its own with `env`, as an operator's service would be configured. */
function askWithEnv(target: string, env: Record<string, string>): Promise<string> {
  const script = `
    import { OcrClient } from ${JSON.stringify(clientEntry)};
    const client = new OcrClient(${JSON.stringify(target)}, { deadlineMs: 10000 });
    console.log(await client.getServerInfo().then((info) => info.instanceId, (err) => err.code + ': ' + err.details));
    client.close();`;
  return new Promise((resolve, reject) => {
    const { CONSUL_HTTP_ADDR: _addr, CONSUL_HTTP_SSL: _ssl, CONSUL_CACERT: _ca, ...rest } = process.env;
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000, env: { ...rest, ...env } }, (err, stdout) =>
      err ? reject(new Error(`the client process failed: ${err.message}`, { cause: err })) : resolve(stdout.trim()),
    );
  });
}

describe('consul:// target whose agent serves HTTPS only', function () {
  this.timeout(60_000);
  let pki: TestPki;
  let server: Server;
  let consul: ConsulDouble;
  let port: number;

  before(async () => {
    pki = makePki();
    server = new Server();
    const fake: Partial<OcrServiceServer> = {
      getServerInfo: (_call, callback) => callback(null, ServerInfo.fromPartial({ instanceId: 'fake-1' })),
    };
    server.addService(OcrServiceService, fake as OcrServiceServer);
    const instancePort = await bindLoopback(server);
    consul = new ConsulDouble({ tls: { cert: pki.read(pki.server.cert), key: pki.read(pki.server.key) } });
    port = (await consul.start(0)).port;
    const body = JSON.stringify({ ID: 'ocr-1', Name: 'ocr', Address: '127.0.0.1', Port: instancePort });
    const status = await new Promise<number | undefined>((resolve, reject) =>
      https
        .request(`https://127.0.0.1:${port}/v1/agent/service/register`, { method: 'PUT', ca: pki.read(pki.ca.cert) }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .on('error', reject)
        .end(body),
    );
    expect(status).to.equal(200);
  });

  after(async () => {
    server?.forceShutdown();
    await consul?.close();
    pki?.remove();
  });

  it('is reached with the channel option ocr.consul_tls and its CA', async () => {
    const client = new OcrClient(`consul://127.0.0.1:${port}/ocr`, { channelOptions: { 'ocr.consul_tls': { ca: pki.read(pki.ca.cert) } } });
    expect(await ask(client)).to.equal('fake-1');
  });

  it("is reached as Consul's tools reach it: consul:///SERVICE with CONSUL_HTTP_ADDR=https://… and CONSUL_CACERT", async () => {
    const env = { CONSUL_HTTP_ADDR: `https://127.0.0.1:${port}`, CONSUL_CACERT: pki.ca.cert };
    expect(await askWithEnv('consul:///ocr', env)).to.equal('fake-1');
  });

  it('is reached with CONSUL_HTTP_SSL=true and the agent in the target', async () => {
    const env = { CONSUL_HTTP_SSL: 'true', CONSUL_CACERT: pki.ca.cert };
    expect(await askWithEnv(`consul://127.0.0.1:${port}/ocr`, env)).to.equal('fake-1');
  });

  it('asked over plain HTTP, the call fails UNAVAILABLE saying how to ask over HTTPS', async () => {
    const answer = await askWithEnv(`consul://127.0.0.1:${port}/ocr`, {});
    expect(answer).to.match(new RegExp(`^UNAVAILABLE: Consul at http://127\\.0\\.0\\.1:${port} unreachable: `));
    expect(answer).to.include('asked over HTTPS (CONSUL_HTTP_SSL=true or CONSUL_HTTP_ADDR=https://…, with CONSUL_CACERT for its CA');
  });

  it('without its CA, the call fails UNAVAILABLE naming the certificate problem', async () => {
    const answer = await askWithEnv(`consul://127.0.0.1:${port}/ocr`, { CONSUL_HTTP_SSL: '1' });
    expect(answer).to.match(new RegExp(`^UNAVAILABLE: Consul at https://127\\.0\\.0\\.1:${port} unreachable: .*certificate`));
  });

  it('with a CONSUL_CACERT that cannot be read, the call fails UNAVAILABLE naming the variable and the file', async () => {
    const missing = path.join(pki.dir, 'no-such-ca.pem');
    const answer = await askWithEnv(`consul://127.0.0.1:${port}/ocr`, { CONSUL_HTTP_SSL: 'true', CONSUL_CACERT: missing });
    expect(answer).to.match(new RegExp(`^UNAVAILABLE: cannot read CONSUL_CACERT ${missing.replace(/[.]/g, '\\.')}: ENOENT`));
  });
});
