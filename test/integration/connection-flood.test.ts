import { once } from 'node:events';
import http2 from 'node:http2';
import { expect } from 'chai';
import { OcrClient } from '../../src/client/index.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { DEFAULT_CONNECTION_LIMITS } from '../../src/server/connection-limits.js';
import { MAX_STREAMS_PER_CONNECTION } from '../../src/server/server.js';
import { silentConnections } from '../support/silent-connections.js';

const metric = async (httpPort: number, name: string): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
};

describe('a host that opens connections and sends nothing, against a server with its default flags', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  before(async () => {
    server = await spawnServer();
  });
  after(() => server?.child.kill('SIGKILL'));

  it('has those past --max-connections-per-client closed as they open, while other callers are served', async () => {
    const { perClient } = DEFAULT_CONNECTION_LIMITS;
    const extra = 76;
    // From 127.0.0.2, another address on this machine's loopback: the callers below come from 127.0.0.1.
    const attack = await silentConnections([server.port, server.httpPort!], '127.0.0.2', perClient + extra);
    try {
      await waitFor(() => attack.closed() === extra, 10_000, `${extra} connections closed`);
      const client = new OcrClient(`127.0.0.1:${server.port}`, { maxAttempts: 1, deadlineMs: 5000 });
      try {
        expect((await client.getServerInfo()).instanceId).to.equal(server.instanceId);
      } finally {
        client.close();
      }
      expect((await fetch(`http://127.0.0.1:${server.httpPort}/healthz`)).status).to.equal(200);
      expect(await metric(server.httpPort!, 'ocr_connections_refused_total\\{reason="per_client"\\}')).to.equal(extra);
      expect(await metric(server.httpPort!, 'ocr_connections_open')).to.be.at.least(perClient);
    } finally {
      attack.sockets.forEach((s) => s.destroy());
    }
    await waitFor(async () => (await metric(server.httpPort!, 'ocr_connections_open')) < 10, 10_000, 'the connections closed');
  });

  it('lets one connection have at most MAX_STREAMS_PER_CONNECTION calls open, so that a client that never reads its answers holds no more', async () => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    try {
      const [settings] = (await once(session, 'remoteSettings')) as [http2.Settings];
      expect(settings.maxConcurrentStreams).to.equal(MAX_STREAMS_PER_CONNECTION);
    } finally {
      session.destroy();
    }
  });
});
