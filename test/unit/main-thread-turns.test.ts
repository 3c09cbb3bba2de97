import { expect } from 'chai';
import { once } from 'node:events';
import net from 'node:net';
import { MainThreadTurns } from '../../src/engine/runtime/main-thread-turns.js';

describe('MainThreadTurns', () => {
  it('gives turns taken at once in order, each in its own event loop iteration, with sockets read between them', async () => {
    const seen: string[] = [];
    const server = net.createServer((socket) => socket.on('data', (d) => seen.push(`read ${d.toString()}`)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await Promise.all([once(client, 'connect'), accepted]);
    try {
      const turns = new MainThreadTurns();
      // Each turn sends a byte over loopback, readable at once: its read must come before the next turn.
      const taken = [1, 2, 3].map((n) =>
        turns.take().then(() => {
          seen.push(`turn ${n}`);
          client.write(String(n));
        }),
      );
      await Promise.all(taken);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(seen).to.deep.equal(['turn 1', 'read 1', 'turn 2', 'read 2', 'turn 3', 'read 3']);
    } finally {
      client.destroy();
      server.close();
    }
  });
});
