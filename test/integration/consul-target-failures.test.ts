import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { OcrCallError, OcrClient } from '../../src/client/index.js';
import { unreachable } from '../../src/client/errors.js';
import { closedPort } from '../support/closed-port.js';
import { ConsulDouble } from '../support/consul-double.js';
import { consulRequest } from '../support/consul.js';
import { startHealthServer } from '../support/health-server.js';

/** The refusal of a call that Consul gave no instance for. */
async function failure(client: OcrClient): Promise<OcrCallError> {
  try {
    await client.getServerInfo({ deadlineMs: 10_000 });
  } catch (err) {
    expect(err).to.be.instanceOf(OcrCallError);
    return err as OcrCallError;
  } finally {
    client.close();
  }
  return expect.fail('the call succeeded with no instance to call');
}

/** What an operator whose consul:// target finds nothing is told: what went wrong, and where to look. */
describe('consul:// target with no instance to call', function () {
  this.timeout(30_000);

  it('no passing instance: says to check the service name, its checks and the token', async () => {
    const consul = new ConsulDouble();
    const { port } = await consul.start(0);
    try {
      const err = await failure(new OcrClient(`consul://127.0.0.1:${port}/ocr-eu?tag=blue`));
      expect(err.code).to.equal('UNAVAILABLE');
      expect(err.details).to.equal(
        `no passing instance of "ocr-eu" in Consul at http://127.0.0.1:${port} (tag blue): check that its instances run and ` +
          `registered under that name (ocr serve --service-name), and that their checks pass ` +
          `(http://127.0.0.1:${port}/v1/health/checks/ocr-eu); where ACLs are on, that the client's token (CONSUL_HTTP_TOKEN) may read it`,
      );
    } finally {
      await consul.close();
    }
  });

  it('instance gone: says why its last address could not be reached, as for a host:port target', async () => {
    const consul = new ConsulDouble();
    const { address, port } = await consul.start(0);
    const instance = await startHealthServer({ '': 'SERVING' });
    try {
      const check = { GRPC: `127.0.0.1:${instance.port}`, Interval: '1s', Status: 'passing' };
      const service = { ID: 'ocr-1', Name: 'ocr', Address: '127.0.0.1', Port: instance.port, Check: check };
      expect((await consulRequest(address, '/v1/agent/service/register', { method: 'PUT', body: service })).status).to.equal(200);
      const client = new OcrClient(`consul://127.0.0.1:${port}/ocr`);
      // Answered (the instance serves health alone): its connection was up.
      expect(await client.getServerInfo().catch((e: unknown) => e)).to.include({ code: 'UNIMPLEMENTED' });
      // The lost connection makes grpc-js ask the resolver again, which answers with the same instance.
      await instance.close();
      const err = await failure(client);
      expect(err.code).to.equal('UNAVAILABLE');
      expect(err.details).to.equal(unreachable(`connect ECONNREFUSED 127.0.0.1:${instance.port}`));
    } finally {
      await consul.close();
    }
  });

  it("token the agent does not know (Consul's ACL not found): says to give one of its tokens, not that the agent is unreachable", async () => {
    const consul = new ConsulDouble({ aclWriteToken: 'writer' });
    const { port } = await consul.start(0);
    try {
      const err = await failure(new OcrClient(`consul://127.0.0.1:${port}/ocr`, { channelOptions: { 'ocr.consul_token': 'typo' } }));
      expect(err.code).to.equal('UNAVAILABLE');
      expect(err.details).to.equal(
        `Consul at http://127.0.0.1:${port} refused the client's token: ACL not found: give the client (CONSUL_HTTP_TOKEN, or ` +
          `the SDK's channel option ocr.consul_token) one of the agent's tokens that may read "ocr" (service:read and node:read)`,
      );
    } finally {
      await consul.close();
    }
  });

  it("reads the client's token from the file CONSUL_HTTP_TOKEN_FILE names, as Consul's tools do", async () => {
    const consul = new ConsulDouble({ aclWriteToken: 'writer' });
    const { port } = await consul.start(0);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'consul-token-'));
    const saved = process.env.CONSUL_HTTP_TOKEN_FILE;
    try {
      writeFileSync(path.join(dir, 'token'), 'typo\n');
      process.env.CONSUL_HTTP_TOKEN_FILE = path.join(dir, 'token');
      // The agent's refusal shows that the file's token was sent: without it, reads need none here.
      const err = await failure(new OcrClient(`consul://127.0.0.1:${port}/ocr`));
      expect(err.details).to.match(new RegExp(`^Consul at http://127\\.0\\.0\\.1:${port} refused the client's token: ACL not found: `));
    } finally {
      if (saved === undefined) delete process.env.CONSUL_HTTP_TOKEN_FILE;
      else process.env.CONSUL_HTTP_TOKEN_FILE = saved;
      rmSync(dir, { recursive: true, force: true });
      await consul.close();
    }
  });

  it('agent unreachable: says to check the agent, the address and the token', async () => {
    const port = await closedPort();
    const err = await failure(new OcrClient(`consul://127.0.0.1:${port}/ocr`));
    expect(err.code).to.equal('UNAVAILABLE');
    expect(err.details).to.match(new RegExp(`^Consul at http://127\\.0\\.0\\.1:${port} unreachable: .*ECONNREFUSED`));
    expect(err.details).to.match(
      /: check that an agent runs there, that the target names its HTTP address \(consul:\/\/HOST:PORT\/SERVICE, port 8500 by default\), that an agent serving HTTPS only is asked over HTTPS \(CONSUL_HTTP_SSL=true or CONSUL_HTTP_ADDR=https:\/\/…, with CONSUL_CACERT for its CA; or the SDK's channel option ocr\.consul_tls\), and, where ACLs are on, that the client's token \(CONSUL_HTTP_TOKEN\) may read "ocr"$/,
    );
  });
});
