import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { expect } from 'chai';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { waitFor } from '../../src/dev/wait-for.js';
import { ConnectionGuard } from '../../src/server/connection-guard.js';
import { connectionCap, FD_RESERVE, openFileLimit } from '../../src/server/connection-limits.js';
import { makePki, type TestPki } from '../support/certificates.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                524288               files
Max locked memory         8388608              8388608              bytes
`;

/** A loopback server under `guard` that reads what it is sent and never answers; on `host`, IPv4 loopback unless given. */
async function guardedServer(guard: ConnectionGuard, host = '127.0.0.1'): Promise<{ port: number; close(): void }> {
  const server = net.createServer((socket) => socket.resume());
  guard.watch(server);
  server.listen(0, host);
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/** A connection from `from` (any 127.x.y.z is this machine's loopback); `hello` sends a byte as it opens. */
async function connect(port: number, from: string, hello = true): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  if (hello) socket.write('x');
  return socket;
}

/** Whether the server closed `socket` within `ms`. */
async function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  if (socket.closed) return true;
  return Promise.race([once(socket, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
}

describe('ConnectionGuard', () => {
  it('reads the soft limit on open files, and keeps FD_RESERVE of them from the connections', () => {
    expect(openFileLimit(LIMITS)).to.equal(20000);
    expect(openFileLimit('Max open files  unlimited  unlimited  files')).to.equal(undefined);
    expect(connectionCap(4096, 20000)).to.equal(4096);
    expect(connectionCap(4096, 1024)).to.equal(1024 - FD_RESERVE);
    expect(connectionCap(4096, undefined)).to.equal(4096);
    expect(connectionCap(4096, 10)).to.equal(1);
  });

  it('reports every reason of refusal at 0 from the start, for rate() to read', async () => {
    const registry = new Registry();
    new ConnectionGuard({ max: 5, perClient: 3 }, registry, pino({ level: 'silent' }), 100_000);
    const metrics = await registry.metrics();
    expect(metrics).to.match(/^ocr_connections_refused_total\{reason="per_client"\} 0$/m);
    expect(metrics).to.match(/^ocr_connections_refused_total\{reason="max"\} 0$/m);
    expect(metrics).to.match(/^ocr_connections_evicted_total 0$/m);
  });

  it('closes a connection past perClient from one address, and past max from all, as it opens; a place freed is taken again', async () => {
    const registry = new Registry();
    // None idle long enough to make room: a new connection past max is closed.
    const guard = new ConnectionGuard({ max: 5, perClient: 3, idleEvictMs: 60_000 }, registry, pino({ level: 'silent' }), 100_000);
    const server = await guardedServer(guard);
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) sockets.push(await connect(server.port, '127.0.0.1'));
      const fourth = await connect(server.port, '127.0.0.1');
      expect(await closedWithin(fourth, 1000), 'a fourth from one address').to.equal(true);
      for (let i = 0; i < 2; i++) sockets.push(await connect(server.port, '127.0.0.2'));
      const sixth = await connect(server.port, '127.0.0.3');
      expect(await closedWithin(sixth, 1000), 'a sixth in all').to.equal(true);
      for (const socket of sockets) expect(await closedWithin(socket, 0)).to.equal(false);
      expect(guard.openConnections).to.equal(5);
      sockets.shift()!.destroy();
      await waitFor(() => guard.openConnections === 4, 2000, 'the freed place counted');
      const again = await connect(server.port, '127.0.0.3');
      sockets.push(again);
      expect(await closedWithin(again, 300)).to.equal(false);
      const metrics = await registry.metrics();
      expect(metrics).to.match(/^ocr_connections_open 5$/m);
      expect(metrics).to.match(/^ocr_connections_refused_total\{reason="per_client"\} 1$/m);
      expect(metrics).to.match(/^ocr_connections_refused_total\{reason="max"\} 1$/m);
    } finally {
      sockets.forEach((s) => s.destroy());
      server.close();
    }
  });

  it("logs its first closing at once, in the process's first 10 s too", async () => {
    const lines: Array<{ closed?: Record<string, number> }> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const guard = new ConnectionGuard({ max: 10, perClient: 1, idleEvictMs: 60_000 }, new Registry(), logger, 100_000);
    const server = await guardedServer(guard);
    const sockets: net.Socket[] = [];
    try {
      sockets.push(await connect(server.port, '127.0.0.1'), await connect(server.port, '127.0.0.1'));
      await waitFor(() => lines.length === 1, 2000, 'the line of the first closed');
      expect(lines[0]!.closed).to.deep.equal({ per_client: 1 });
    } finally {
      sockets.forEach((s) => s.destroy());
      server.close();
    }
  });

  it('names in its log line the clients it closed past perClient: their address, or over IPv6 their prefix', async () => {
    const lines: Array<{ clientsClosed?: Record<string, number> }> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const guard = new ConnectionGuard(
      { max: 10, perClient: 1, clientIpv6Prefix: 64, idleEvictMs: 60_000 },
      new Registry(),
      logger,
      100_000,
    );
    const server = await guardedServer(guard, '::1');
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const socket = net.connect({ port: server.port, host: '::1' });
        socket.on('error', () => undefined);
        sockets.push(socket);
        await once(socket, 'connect');
      }
      await waitFor(() => lines.length === 1, 2000, 'the line of the first closed');
      expect(lines[0]!.clientsClosed).to.deep.equal({ '::/64': 1 });
    } finally {
      sockets.forEach((s) => s.destroy());
      server.close();
    }
  });

  for (const secure of [false, true]) {
    it(`at max, gives a new connection the place of the one without a call the longest, never of one with a call in progress (${secure ? 'TLS' : 'plain'})`, async () => {
      const pki = secure ? makePki() : undefined;
      const registry = new Registry();
      const guard = new ConnectionGuard({ max: 3, perClient: 3, idleEvictMs: 0 }, registry, pino({ level: 'silent' }), 100_000);
      // As on an instance: a gRPC (HTTP/2) port and an HTTP/1 port under one guard, each holding its calls until told.
      const h2 = await listening(guard, secure ? http2.createSecureServer(tlsOptions(pki!)) : http2.createServer());
      const h1 = await listening(guard, secure ? https.createServer(tlsOptions(pki!)) : http.createServer());
      const h2Calls: http2.ServerHttp2Stream[] = [];
      h2.server.on('stream', (stream: http2.ServerHttp2Stream) => h2Calls.push(stream));
      const h1Calls: http.ServerResponse[] = [];
      h1.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => h1Calls.push(res));
      /** The sockets the servers hold open: what costs descriptors, whatever the guard counts. */
      const held = async (): Promise<number> => (await connectionsOf(h2.server)) + (await connectionsOf(h1.server));
      const clientTls = pki ? { ca: pki.read(pki.ca.cert), servername: 'localhost' } : {};
      const tcp = (port: number, from: string): net.Socket => net.connect({ port, host: '127.0.0.1', localAddress: from });
      const sessions: http2.ClientHttp2Session[] = [];
      const h2Session = async (from: string): Promise<http2.ClientHttp2Session> => {
        const session = http2.connect(`${secure ? 'https' : 'http'}://127.0.0.1:${h2.port}`, {
          createConnection: () =>
            secure ? tls.connect({ socket: tcp(h2.port, from), ALPNProtocols: ['h2'], ...clientTls }) : tcp(h2.port, from),
        });
        session.on('error', () => undefined);
        sessions.push(session);
        await once(session, 'remoteSettings');
        return session;
      };
      const h1Request = (secure ? https : http).request({
        host: '127.0.0.1',
        port: h1.port,
        path: '/held',
        agent: new (secure ? https : http).Agent({ keepAlive: true, ...clientTls }),
        createConnection: () => (secure ? tls.connect({ socket: tcp(h1.port, '127.0.0.2'), ...clientTls }) : tcp(h1.port, '127.0.0.2')),
      });
      h1Request.on('error', () => undefined);
      // Silent, and reading nothing: closed only by the server.
      const sockets: net.Socket[] = [];
      try {
        const busy = await h2Session('127.0.0.1');
        const call = busy.request({ ':path': '/held' });
        call.end();
        await waitFor(() => h2Calls.length === 1, 2000, 'the held HTTP/2 call');
        const h1Answer = once(h1Request, 'response');
        h1Request.end();
        await waitFor(() => h1Calls.length === 1, 2000, 'the held HTTP/1 request');
        const idle = await h2Session('127.0.0.3');
        expect(guard.openConnections).to.equal(3);

        const goaway = once(idle, 'goaway');
        sockets.push(await connect(h2.port, '127.0.0.4', false));
        await goaway;
        await once(idle, 'close');
        // Told GOAWAY, it closes; one that does not is closed by the server after GOAWAY_GRACE_MS.
        sockets.push(await connect(h1.port, '127.0.0.4', false));
        await waitFor(async () => (await held()) === 3, 3000, 'the silent HTTP/2 connection, idle the longest, closed');
        expect(guard.openConnections).to.equal(3);

        // The HTTP/1 request answered: its connection, kept alive for the next, is idle from now.
        const ended = once(h1Calls[0]!, 'close');
        h1Calls[0]!.end('done');
        await ended;
        const [h1Response] = (await h1Answer) as [http.IncomingMessage];
        const h1Socket = h1Response.socket;
        h1Response.resume();
        sockets.push(await connect(h2.port, '127.0.0.4', false));
        expect(await closedWithin(h1Socket, 500), 'the kept-alive connection, idle less long').to.equal(false);
        sockets.push(await connect(h2.port, '127.0.0.4', false));
        expect(await closedWithin(h1Socket, 2000), 'the kept-alive connection, now idle the longest').to.equal(true);
        await waitFor(async () => (await held()) === 3, 3000, 'each connection given up closed');

        expect(call.closed, 'the HTTP/2 call in progress').to.equal(false);
        h2Calls[0]!.respond({ ':status': 200 });
        h2Calls[0]!.end('done');
        const [headers] = (await once(call, 'response')) as [http2.IncomingHttpHeaders];
        expect(headers[':status']).to.equal(200);
        expect(await registry.metrics()).to.match(/^ocr_connections_evicted_total 4$/m);
        expect(guard.openConnections).to.equal(3);
      } finally {
        sockets.forEach((s) => s.destroy());
        sessions.forEach((s) => s.destroy());
        h1Request.destroy();
        h2.server.close();
        h1.server.close();
        pki?.remove();
      }
    });
  }
});

const connectionsOf = (server: net.Server): Promise<number> =>
  new Promise((resolve, reject) => server.getConnections((err, count) => (err ? reject(err) : resolve(count))));

function tlsOptions(pki: TestPki): { cert: Buffer; key: Buffer } {
  return { cert: pki.read(pki.server.cert), key: pki.read(pki.server.key) };
}

async function listening<S extends net.Server>(guard: ConnectionGuard, server: S): Promise<{ server: S; port: number }> {
  guard.watch(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port };
}
