import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A port on 127.0.0.1 that was just free: nothing listens there, so a connection to it is refused. */
export async function closedPort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
