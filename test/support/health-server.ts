import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatusMap } from 'grpc-health-check';
import { bindLoopback } from '../../src/dev/free-port.js';

export interface HealthServer {
  port: number;
  health: HealthImplementation;
  close(): Promise<void>;
}

/** A grpc-js server on a free loopback port serving only grpc.health.v1 (what Consul's GRPC check calls); over TLS with `tls`. */
export async function startHealthServer(statuses: ServingStatusMap, tls?: { cert: Buffer; key: Buffer }): Promise<HealthServer> {
  const server = new Server();
  const health = new HealthImplementation(statuses);
  health.addToServer(server);
  const port = await bindLoopback(
    server,
    tls ? ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }]) : undefined,
  );
  return {
    port,
    health,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
