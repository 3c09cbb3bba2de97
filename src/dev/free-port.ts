import net from 'node:net';
import { ServerCredentials, type Server } from '@grpc/grpc-js';

/** A loopback port nothing listens on at this moment (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Runs `use` with a loopback port that something else listens on meanwhile: a start that must find it taken. */
export async function withTakenPort<T>(use: (port: number) => Promise<T>): Promise<T> {
  const taken = net.createServer();
  await new Promise<void>((resolve, reject) => {
    taken.once('error', reject);
    taken.listen(0, '127.0.0.1', resolve);
  });
  try {
    return await use((taken.address() as net.AddressInfo).port);
  } finally {
    taken.close();
  }
}

/** Bind a grpc-js server to a free loopback port, plaintext unless `credentials` say otherwise; resolves with the port. */
export function bindLoopback(server: Server, credentials: ServerCredentials = ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, port) => (err ? reject(err) : resolve(port))));
}
