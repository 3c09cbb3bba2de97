/**
 * `ocr health`: one grpc.health.v1 Check, the one Consul's check makes, from a command line: a
 * container's HEALTHCHECK, a probe, a script waiting for a server. Exit status 0 when the service
 * answers SERVING; 1 otherwise: NOT_SERVING (still starting is not answered at all; draining after
 * SIGTERM is NOT_SERVING), unreachable, no answer within the deadline, or a service it does not know.
 */
import { credentials, makeClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { tlsChannel } from '../client/tls.js';
import { clientTls, type ClientTlsCliOptions } from './tls-options.js';

/** TLS (`--tls`, `--tls-ca`, `--tls-cert`/`--tls-key`, `--tls-server-name`): tls-options.ts. */
export interface HealthCliOptions extends ClientTlsCliOptions {
  target: string;
  /** The service checked: ocr.v1.OcrService, or '' for the server as a whole. */
  service: string;
  deadlineMs: number;
}

interface HealthClient {
  check(
    request: { service: string },
    options: { deadline: number },
    callback: (err: ServiceError | null, reply?: { status: string }) => void,
  ): void;
  close(): void;
}

/** Prints `TARGET SERVICE: STATUS` on stdout, or why there was no answer on stderr; resolves with the exit status. */
export async function healthCommand(opts: HealthCliOptions): Promise<number> {
  const Health = makeClientConstructor(healthService, 'grpc.health.v1.Health');
  const secure = tlsChannel(clientTls(opts));
  const client = new Health(
    opts.target,
    secure?.credentials ?? credentials.createInsecure(),
    secure?.options ?? {},
  ) as unknown as HealthClient;
  const name = opts.service === '' ? '(server)' : opts.service;
  try {
    const status = await new Promise<string>((resolve, reject) =>
      client.check({ service: opts.service }, { deadline: Date.now() + opts.deadlineMs }, (err, reply) =>
        err ? reject(err) : resolve(reply?.status ?? 'UNKNOWN'),
      ),
    );
    process.stdout.write(`${opts.target} ${name}: ${status}\n`);
    return status === 'SERVING' ? 0 : 1;
  } catch (err) {
    const e = err as Partial<ServiceError>;
    process.stderr.write(`ocr health: ${opts.target} ${name}: ${e.details ?? e.message ?? String(err)}\n`);
    return 1;
  } finally {
    client.close();
  }
}
