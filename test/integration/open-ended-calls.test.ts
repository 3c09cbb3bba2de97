import http2 from 'node:http2';
import net from 'node:net';
import { expect } from 'chai';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { DEFAULT_OPEN_ENDED_LIMITS } from '../../src/server/open-ended-calls.js';
import { open, REFLECTION, WATCH, type Opened } from '../support/open-ended-streams.js';

describe('calls that stay open (health Watch, reflection), against a server with its default flags', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  const sessions: http2.ClientHttp2Session[] = [];
  const connect = (from = '127.0.0.1'): http2.ClientHttp2Session => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`, {
      createConnection: () => net.connect({ port: server.port, host: '127.0.0.1', localAddress: from }),
    });
    sessions.push(session);
    return session;
  };
  before(async () => {
    server = await spawnServer();
  });
  after(() => {
    sessions.forEach((s) => s.destroy());
    server?.child.kill('SIGKILL');
  });

  it('keeps at most perClient from one address open, refusing the next at once; another address, or a place freed, is served', async () => {
    const { perClient } = DEFAULT_OPEN_ENDED_LIMITS;
    const session = connect();
    const kept: Opened[] = [];
    for (let i = 0; i < perClient; i++) kept.push(await open(session, i % 2 ? WATCH : REFLECTION));
    expect(kept.filter((o) => o.refusal !== undefined)).to.have.length(0);
    for (const path of [WATCH, REFLECTION]) {
      const refused = await open(connect(), path);
      expect(refused.refusal, path).to.equal('8');
      expect(refused.message).to.equal(
        `too many health watches and reflection streams (${perClient} open from your address; the limits are ` +
          `${DEFAULT_OPEN_ENDED_LIMITS.total} and ${perClient} an address): close those you no longer read, or ask grpc.health.v1.Health/Check`,
      );
    }
    // Health/Check is not one of them.
    const check = await open(session, '/grpc.health.v1.Health/Check');
    expect(check.refusal).to.equal(undefined);
    expect((await open(connect('127.0.0.2'), WATCH)).refusal).to.equal(undefined);
    kept[0]!.stream.close();
    await waitFor(async () => (await open(session, WATCH)).refusal === undefined, 5000, 'a place freed taken again');
  });
});
