/**
 * A process that makes its calls and never closes its client exits when its work is done, with a
 * consul:// target as with host:port: the Consul watch (a blocking query always open, timers between
 * queries) must not keep it alive, as grpc-js's own resolvers do not.
 */

import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Server } from '@grpc/grpc-js';
import { ConsulDouble } from '../support/consul-double.js';
import { OcrServiceService, ServerInfo, type OcrServiceServer } from '../../src/gen/ocr/v1/ocr.js';
import { bindLoopback } from '../../src/dev/free-port.js';

const clientEntry = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/client/index.js');

/** Runs a module that asks `target` for its server info and never closes its client: how it ended, and how long it took. */
function runUnclosed(target: string): Promise<{ code: number | null; stdout: string; ms: number }> {
  const script = `
    import { OcrClient } from ${JSON.stringify(clientEntry)};
    const client = new OcrClient(${JSON.stringify(target)}, { deadlineMs: 5000 });
    console.log(await client.getServerInfo().then((info) => info.instanceId, (err) => err.code));`;
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout: stdout.trim(), ms: performance.now() - started });
    });
  });
}

describe('a process that does not close its client', function () {
  this.timeout(60_000);
  let server: Server;
  let consul: ConsulDouble;
  let agent: string;

  before(async () => {
    server = new Server();
    const fake: Partial<OcrServiceServer> = {
      getServerInfo: (_call, callback) => callback(null, ServerInfo.fromPartial({ instanceId: 'fake-1' })),
    };
    server.addService(OcrServiceService, fake as OcrServiceServer);
    const port = await bindLoopback(server);
    consul = new ConsulDouble();
    agent = (await consul.start(0)).address;
    const registered = await fetch(`${agent}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ ID: 'ocr-1', Name: 'ocr', Address: '127.0.0.1', Port: port }),
    });
    expect(registered.status).to.equal(200);
  });

  after(async () => {
    server.forceShutdown();
    await consul.close();
  });

  it('exits once its calls are answered, with the Consul watch still open', async () => {
    const { code, stdout, ms } = await runUnclosed(`consul://${agent.replace('http://', '')}/ocr`);
    expect(stdout).to.equal('fake-1');
    expect(code).to.equal(0);
    // Consul holds each blocking query for 30 s, and the runner kills the process at 20 s.
    expect(ms).to.be.below(10_000);
  });

  it("exits once its call has failed for an unreachable agent, between the watch's retries", async () => {
    const { code, stdout, ms } = await runUnclosed('consul://127.0.0.1:1/ocr');
    expect(stdout).to.equal('UNAVAILABLE');
    expect(code).to.equal(0);
    expect(ms).to.be.below(10_000);
  });
});
