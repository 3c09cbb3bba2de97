import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import { OcrClient } from '../../src/client/index.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { metricSample as metric } from '../../src/dev/metric-sample.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { DEFAULT_CONNECTION_LIMITS } from '../../src/server/connection-limits.js';
import { MAX_STREAMS_PER_CONNECTION } from '../../src/server/server.js';
import { OCR_SERVICE } from '../../src/shared/service-name.js';
import { silentConnections } from '../support/silent-connections.js';

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
      // The HTTP port's new connection takes another one's place, once one has been idle a second: the
      // idle ones opened over some time, and the next longest idle may still be short of it.
      await waitFor(
        () =>
          fetch(`http://127.0.0.1:${server.httpPort}/healthz`).then(
            (r) => r.status === 200,
            () => false,
          ),
        4000,
        'the HTTP port served at --max-connections',
      );
      expect(await metric(server.httpPort!, 'ocr_connections_refused_total{reason="per_client"}')).to.equal(extra);
      expect(await metric(server.httpPort!, 'ocr_connections_open')).to.be.at.least(perClient);
    } finally {
      attack.sockets.forEach((s) => s.destroy());
    }
    await waitFor(async () => (await metric(server.httpPort!, 'ocr_connections_open')) < 10, 10_000, 'the connections closed');
  });

  it('serves a client whose connection said nothing for 12 s after it opened, as one whose event loop was held up', async () => {
    // A Node script that starts 100 calls of 30 MB on 100 channels encodes them all before its
    // event loop sends the first connection's preface: 15 s here (bench:burst), past the 10 s after
    // which silent connections were closed, and its first calls ended UNAVAILABLE.
    const socket = net.connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    await delay(12_000);
    const session = http2.connect(`http://127.0.0.1:${server.port}`, { createConnection: () => socket });
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': `/${OCR_SERVICE}/GetServerInfo`,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      stream.end(Buffer.alloc(5)); // an empty message, framed
      stream.resume();
      const [trailers] = (await Promise.race([
        once(stream, 'trailers'),
        once(stream, 'close').then(() => {
          throw new Error(`the call ended without trailers (stream reset ${stream.rstCode}, socket destroyed: ${socket.destroyed})`);
        }),
      ])) as [http2.IncomingHttpHeaders];
      expect(trailers['grpc-status']).to.equal('0');
    } finally {
      session.destroy();
    }
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

describe('many addresses holding idle connections at --max-connections', function () {
  this.timeout(60_000);
  const max = 40;
  let server: ServerProcess;
  const sessions: http2.ClientHttp2Session[] = [];
  /** An HTTP/2 connection from `from` to the gRPC port, as a gRPC channel opens it; resolves once the server's settings came. */
  const session = async (from: string): Promise<http2.ClientHttp2Session> => {
    const opened = http2.connect(`http://127.0.0.1:${server.port}`, {
      createConnection: () => net.connect({ port: server.port, host: '127.0.0.1', localAddress: from }),
    });
    opened.on('error', () => undefined);
    sessions.push(opened);
    await once(opened, 'remoteSettings');
    return opened;
  };
  before(async () => {
    server = await spawnServer(['--max-connections', String(max)]);
  });
  after(() => {
    sessions.forEach((s) => s.destroy());
    server?.child.kill('SIGKILL');
  });

  it('closes the longest idle (with GOAWAY) for each new caller, and keeps a connection with a call in progress', async () => {
    // A health Watch: a call that stays open, on a connection that must keep its place.
    const watching = await session('127.0.0.1');
    const watch = watching.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Watch',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    watch.on('error', () => undefined);
    watch.end(Buffer.alloc(5));
    await once(watch, 'response');
    // Every other place taken by connections that opened, spoke HTTP/2 and then make no call, from two addresses.
    const idle = await Promise.all(Array.from({ length: max - 1 }, (_, i) => session(i % 2 ? '127.0.0.2' : '127.0.0.3')));
    let goaways = 0;
    idle.forEach((s) => s.once('goaway', () => goaways++));
    // Once they have been idle a second, a new caller takes the place of one of them.
    await waitFor(
      async () => {
        const client = new OcrClient(`127.0.0.1:${server.port}`, { maxAttempts: 1, deadlineMs: 2000 });
        try {
          return (await client.getServerInfo()).instanceId === server.instanceId;
        } catch {
          return false;
        } finally {
          client.close();
        }
      },
      8000,
      'a new caller served',
    );
    expect((await fetch(`http://127.0.0.1:${server.httpPort}/healthz`)).status).to.equal(200);
    expect(await metric(server.httpPort!, 'ocr_connections_evicted_total')).to.be.at.least(2);
    expect(await metric(server.httpPort!, 'ocr_connections_open')).to.be.at.most(max);
    await waitFor(() => goaways >= 2, 2000, 'GOAWAY on the connections closed');
    expect(watch.closed, 'the Watch in progress').to.equal(false);
  });
});
