/**
 * How many connections an instance keeps open, on all its ports together. Each costs a file
 * descriptor, and nothing else bounded them: one client that opened 30,000 TCP connections and sent
 * nothing on them took the server to its file limit (20,000 here), after which it accepted no
 * connection and opened no file, so that every other caller, its health checks included, failed
 * (docs/RESOURCES.md, "Connections"). So a connection past `perClient` from one address is closed as
 * it opens; `max` is kept below the process's file limit, so that the server keeps descriptors for
 * its own files and calls. At `max`, a new connection takes the place of the one that has been
 * without a call in progress the longest (at least `idleEvictMs`), one that has sent nothing
 * included: many addresses together could otherwise hold every place with connections that do
 * nothing, and lock out everyone else, health checks included. Only where every connection has a
 * call in progress, or none has been idle that long, is the new one closed as it opens. Silence
 * alone closes nothing: a connection that has said nothing costs no more than one that sent its
 * preface and nothing since, and a client whose event loop was held up (a script encoding a hundred
 * 30 MB requests before it sends the first connection's preface) would lose its calls.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type http2 from 'node:http2';
import https from 'node:https';
import type net from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { clientAddress } from '../shared/client-address.js';
import { connectionCap, DEFAULT_CONNECTION_LIMITS, openFileLimit, type ConnectionLimits } from './connection-limits.js';
import { Places } from './places.js';

/** Why the guard closed a connection. */
type Closing = 'max' | 'per_client' | 'idle';

/** An open connection as the guard follows it. */
interface Connection {
  readonly client: string;
  /** Calls (HTTP/2 streams, HTTP requests) in progress on it. */
  calls: number;
  idleSince: number;
  /** Its place given back: closed, or closing for a new one. */
  released: boolean;
  readonly socket: net.Socket;
  /** Its HTTP/2 session, on an HTTP/2 server. */
  session?: http2.ServerHttp2Session;
}

/** The clients a log line names as closed past their own bound, at most: the first of a flood, not all of it. */
const CLIENTS_NAMED = 16;

/** How long a client told GOAWAY may take to close its end before the server closes the socket: one that ignores it keeps no descriptor. */
const GOAWAY_GRACE_MS = 1000;

/** Closes a connection: an HTTP/2 session with GOAWAY, so that its client knows no call was lost; else the socket. */
function close({ session, socket }: Connection): void {
  if (!session) return void socket.destroy();
  session.close();
  setTimeout(() => socket.destroy(), GOAWAY_GRACE_MS).unref();
}

/** Both ends' addresses: the same for a TCP socket, the TLS socket over it and an HTTP/2 session's view of it. */
const connectionKey = (socket: net.Socket): string | undefined =>
  socket.remoteAddress === undefined
    ? undefined
    : `${socket.localAddress}:${socket.localPort}<${socket.remoteAddress}:${socket.remotePort}`;

export class ConnectionGuard {
  readonly limits: ConnectionLimits;
  private readonly open: Places;
  private readonly refused: Counter<'reason'>;
  private readonly evicted: Counter;
  /** The connections followed, by connectionKey. */
  private readonly connections = new Map<string, Connection>();
  /** Those with no call in progress, the longest idle first. */
  private readonly idle = new Map<string, Connection>();
  private unlogged = new Map<Closing, number>();
  /** Of those closed past --max-connections-per-client since the last line, how many of each client (its address, or prefix). */
  private unloggedClients = new Map<string, number>();
  // -Infinity, not 0: performance.now() starts at the process's start, and a closing in its first 10 s went unlogged.
  private lastLog = -Infinity;

  constructor(
    limits: Partial<ConnectionLimits>,
    registry: Registry,
    private readonly logger: Logger,
    fileLimit = readOpenFileLimit(),
  ) {
    const asked = { ...DEFAULT_CONNECTION_LIMITS, ...limits };
    this.limits = { ...asked, max: connectionCap(asked.max, fileLimit) };
    this.open = new Places(this.limits.max, this.limits.perClient);
    if (this.limits.max < asked.max) {
      logger.warn(
        { asked: asked.max, max: this.limits.max, fileLimit },
        `at most ${this.limits.max} connections, not ${asked.max}: the process may open ${fileLimit} files; raise it (ulimit -n) for more`,
      );
    }
    const openNow = (): number => this.open.count;
    new Gauge({
      name: 'ocr_connections_open',
      help: 'Connections open on all ports of the instance (--max-connections)',
      registers: [registry],
      collect() {
        this.set(openNow());
      },
    });
    this.refused = new Counter({
      name: 'ocr_connections_refused_total',
      help: 'Connections closed as they opened (max: --max-connections, none idle to make room; per_client: --max-connections-per-client)',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    // Every reason from the start, at 0: a series that appears only with its first refusal gives
    // rate() and increase() nothing to read before it, and an alert on them nothing to fire on.
    for (const reason of ['max', 'per_client'] as const) this.refused.inc({ reason }, 0);
    this.evicted = new Counter({
      name: 'ocr_connections_evicted_total',
      help: 'Connections closed at --max-connections, the longest without a call in progress, to make room for a new one',
      registers: [registry],
    });
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.open.count;
  }

  /**
   * Bound the connections `server` accepts; call before it listens. The calls in progress on each
   * are followed on an HTTP/2 server's sessions and an HTTP/1 server's requests; on any other server
   * every connection counts as idle.
   */
  watch(server: net.Server): void {
    server.on('connection', (socket: net.Socket) => this.admit(socket));
    // Its session is made in a 'connection' listener that runs before the guard's: follow it once that event is over.
    server.on('session', (session: http2.ServerHttp2Session) => queueMicrotask(() => this.followSession(session)));
    if (server instanceof http.Server || server instanceof https.Server) {
      server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
        const connection = this.connectionOf(request.socket);
        if (connection) this.callUntil(connection, response);
      });
    }
  }

  private admit(socket: net.Socket): void {
    const client = clientAddress(socket.remoteAddress, this.limits.clientIpv6Prefix);
    let full = this.open.take(client);
    // A client at its own bound takes no one's place.
    if (full === 'total' && this.open.countOf(client) < this.limits.perClient && this.evictLongestIdle()) full = this.open.take(client);
    if (full) return this.refuse(socket, full === 'total' ? 'max' : 'per_client', client);
    const key = connectionKey(socket);
    const connection: Connection = { client, calls: 0, idleSince: performance.now(), released: false, socket };
    if (key !== undefined) this.track(key, connection);
    socket.once('close', () => this.release(key, connection));
  }

  private track(key: string, connection: Connection): void {
    this.connections.set(key, connection);
    this.idle.set(key, connection);
  }

  /** Gives back the place of `connection`, once: when it closes, or as it is evicted. */
  private release(key: string | undefined, connection: Connection): void {
    if (connection.released) return;
    connection.released = true;
    if (key !== undefined) {
      this.connections.delete(key);
      this.idle.delete(key);
    }
    this.open.give(connection.client);
  }

  private connectionOf(socket: net.Socket): { key: string; connection: Connection } | undefined {
    const key = connectionKey(socket);
    const connection = key === undefined ? undefined : this.connections.get(key);
    return connection && key !== undefined ? { key, connection } : undefined;
  }

  private followSession(session: http2.ServerHttp2Session): void {
    if (session.destroyed) return;
    const followed = this.connectionOf(session.socket);
    if (!followed) return;
    followed.connection.session = session;
    session.on('stream', (stream: http2.ServerHttp2Stream) => this.callUntil(followed, stream));
  }

  /** A call in progress on a connection until `call` closes. */
  private callUntil({ key, connection }: { key: string; connection: Connection }, call: NodeJS.EventEmitter): void {
    if (connection.released) return;
    if (connection.calls++ === 0) this.idle.delete(key);
    call.once('close', () => {
      if (--connection.calls > 0 || connection.released) return;
      connection.idleSince = performance.now();
      // Deleted and set again: the idle are kept in the order they became idle.
      this.idle.set(key, connection);
    });
  }

  /** Closes the connection idle the longest, if one has been for idleEvictMs; whether it did. */
  private evictLongestIdle(): boolean {
    const longest = this.idle.entries().next();
    if (longest.done) return false;
    const [key, connection] = longest.value;
    if (performance.now() - connection.idleSince < this.limits.idleEvictMs) return false;
    this.release(key, connection);
    close(connection);
    this.count('idle');
    return true;
  }

  private refuse(socket: net.Socket, reason: Exclude<Closing, 'idle'>, client: string): void {
    socket.destroy();
    const named = this.unloggedClients.get(client);
    if (reason === 'per_client' && (named !== undefined || this.unloggedClients.size < CLIENTS_NAMED)) {
      this.unloggedClients.set(client, (named ?? 0) + 1);
    }
    this.count(reason);
  }

  private count(reason: Closing): void {
    (reason === 'idle' ? this.evicted : this.refused.labels({ reason })).inc();
    this.unlogged.set(reason, (this.unlogged.get(reason) ?? 0) + 1);
    // At most one line every 10 s, however many are refused.
    const now = performance.now();
    if (now - this.lastLog < 10_000) return;
    this.lastLog = now;
    // Who went past its own bound: what an operator looks for to block or to raise the bound for.
    const clients = this.unloggedClients.size > 0 ? { clientsClosed: Object.fromEntries(this.unloggedClients) } : {};
    this.logger.warn(
      { closed: Object.fromEntries(this.unlogged), ...clients, open: this.open.count, limits: this.limits },
      'connections closed: past --max-connections-per-client, or at --max-connections (idle ones for new ones, new ones where none was idle)',
    );
    this.unlogged = new Map();
    this.unloggedClients = new Map();
  }
}

function readOpenFileLimit(): number | undefined {
  try {
    return openFileLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}
