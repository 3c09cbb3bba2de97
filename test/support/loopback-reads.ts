/**
 * A loopback TCP connection whose server side records each read in `seen` as `read <data>`: a byte
 * written from the client is readable at once, so the order in `seen` shows whether the event loop
 * read a socket between two pieces of main-thread work.
 */
import { once } from 'node:events';
import net from 'node:net';

export interface LoopbackReads {
  client: net.Socket;
  close: () => void;
}

export async function loopbackReads(seen: string[]): Promise<LoopbackReads> {
  const server = net.createServer((socket) => socket.on('data', (d) => seen.push(`read ${d.toString()}`)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await Promise.all([once(client, 'connect'), accepted]);
  return {
    client,
    close: () => {
      client.destroy();
      server.close();
    },
  };
}
