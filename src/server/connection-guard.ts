/**
 * How many connections an instance keeps open, on all its ports together. Each costs a file
 * descriptor, and nothing else bounded them: one client that opened 30,000 TCP connections and sent
 * nothing on them took the server to its file limit (20,000 here), after which it accepted no
 * connection and opened no file, so that every other caller, its health checks included, failed
 * (docs/RESOURCES.md, "Connections"). So a connection past `max`, or past `perClient` from one
 * address, is closed as it opens; `max` is kept below the process's file limit, so that the server
 * keeps descriptors for its own files and calls; and a connection that sends nothing for `silentMs`
 * after it opens (a gRPC client sends its preface at once, an HTTP client its request) is closed.
 */
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { clientAddress } from '../shared/client-address.js';
import { connectionCap, DEFAULT_CONNECTION_LIMITS, openFileLimit, type ConnectionLimits } from './connection-limits.js';
import { Places } from './places.js';

type Refusal = 'max' | 'per_client' | 'silent';

export class ConnectionGuard {
  readonly limits: ConnectionLimits;
  private readonly open: Places;
  private readonly refused: Counter<'reason'>;
  private unlogged = new Map<Refusal, number>();
  private lastLog = 0;

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
      help: 'Connections closed as they opened (max: --max-connections; per_client: --max-connections-per-client) or for sending nothing (silent)',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.open.count;
  }

  /** Bound the connections `server` accepts; call before it listens. */
  watch(server: net.Server): void {
    server.on('connection', (socket: net.Socket) => this.admit(socket));
  }

  private admit(socket: net.Socket): void {
    const client = clientAddress(socket.remoteAddress);
    const full = this.open.take(client);
    if (full) return this.refuse(socket, full === 'total' ? 'max' : 'per_client');
    // Read, not listened to: a 'data' listener would take the bytes from the server's own reader.
    const silence = setTimeout(() => {
      if (socket.bytesRead === 0) this.refuse(socket, 'silent');
    }, this.limits.silentMs).unref();
    socket.once('close', () => {
      clearTimeout(silence);
      this.open.give(client);
    });
  }

  private refuse(socket: net.Socket, reason: Refusal): void {
    socket.destroy();
    this.refused.inc({ reason });
    this.unlogged.set(reason, (this.unlogged.get(reason) ?? 0) + 1);
    // At most one line every 10 s, however many are refused.
    const now = performance.now();
    if (now - this.lastLog < 10_000) return;
    this.lastLog = now;
    this.logger.warn(
      { refused: Object.fromEntries(this.unlogged), open: this.open.count, limits: this.limits },
      'connections closed: past --max-connections or --max-connections-per-client, or silent after opening',
    );
    this.unlogged = new Map();
  }
}

function readOpenFileLimit(): number | undefined {
  try {
    return openFileLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}
