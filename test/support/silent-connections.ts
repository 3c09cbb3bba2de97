import { once } from 'node:events';
import net from 'node:net';

/**
 * `count` connections from `from` to `ports` on loopback (127.0.0.1, or ::1 from an IPv6 address) in
 * turn, each sending nothing; resolves once all are open (or closed already).
 */
export async function silentConnections(
  ports: number[],
  from: string,
  count: number,
): Promise<{ sockets: net.Socket[]; closed: () => number }> {
  let closed = 0;
  const sockets = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const socket = net.connect({ port: ports[i % ports.length]!, host: net.isIPv6(from) ? '::1' : '127.0.0.1', localAddress: from });
      socket.on('error', () => undefined);
      socket.once('close', () => closed++);
      await Promise.race([once(socket, 'connect'), once(socket, 'close')]);
      return socket;
    }),
  );
  return { sockets, closed: () => closed };
}
