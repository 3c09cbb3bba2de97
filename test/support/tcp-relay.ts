import net from 'node:net';

export interface TcpRelay {
  server: net.Server;
  /** Stops listening and cuts every connection passed on. */
  close: () => void;
}

/**
 * A TCP server that passes each connection on to the loopback port `target()` names when it comes
 * (undefined: the connection is closed), both ways, and cuts both sides when either fails. Not yet
 * listening: the caller chooses where.
 */
export function tcpRelay(target: () => number | undefined): TcpRelay {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const port = target();
    if (port === undefined) return client.destroy();
    const upstream = net.connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  return {
    server,
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
