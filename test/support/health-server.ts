import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatusMap } from 'grpc-health-check';

export interface HealthServer {
  port: number;
  health: HealthImplementation;
  close(): Promise<void>;
}

/** A grpc-js server on a free loopback port serving only grpc.health.v1 (what Consul's GRPC check calls). */
export async function startHealthServer(statuses: ServingStatusMap): Promise<HealthServer> {
  const server = new Server();
  const health = new HealthImplementation(statuses);
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    health,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** A loopback port nothing listens on (bound, then released): checks against it fail at once. */
export async function deadPort(): Promise<number> {
  const s = await startHealthServer({});
  await s.close();
  return s.port;
}
