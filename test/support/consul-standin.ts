/**
 * The Consul double (consul-double.ts) as a process of its own that other containers reach:
 * scripts/container-test.sh runs it in place of compose.yaml's `consul` service where no registry can
 * be reached to pull Consul's image. It speaks what the instances (registration, their GRPC checks,
 * deregistration) and the gateway's consul:// resolver (blocking health queries) use. The double
 * listens on loopback only, so a TCP relay on 0.0.0.0:PORT ($PORT, default 8500) passes connections on.
 *
 *   node dist/test/support/consul-standin.js        # until SIGTERM or SIGINT
 */
import { ConsulDouble } from './consul-double.js';
import { tcpRelay } from './tcp-relay.js';

const port = Number(process.env.PORT ?? 8500);
const double = new ConsulDouble({ node: 'consul' });
const inner = await double.start(0);

const relay = tcpRelay(() => inner.port);
relay.server.listen(port, '0.0.0.0', () => process.stdout.write(`consul stand-in: listening on 0.0.0.0:${port}\n`));

const stop = (): void => {
  relay.close();
  double.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
