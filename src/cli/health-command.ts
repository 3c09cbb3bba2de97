/**
 * `ocr health`: one grpc.health.v1 Check, the one Consul's check makes, from a command line: a
 * container's HEALTHCHECK, a probe, a script waiting for a server. Exit status 0 when the service
 * answers SERVING; 1 otherwise: NOT_SERVING (still loading its models, or draining after SIGTERM),
 * unreachable, no answer within the deadline, or a service it does not know.
 */
import { OcrCallError } from '../client/errors.js';
import { healthClient } from '../client/health-client.js';
import { channelTarget } from '../client/resolver-hosts.js';
import { checkTarget } from '../client/target.js';
import { tlsChannel } from '../client/tls.js';
import { describeError } from './file-result.js';
import { clientTls, type ClientTlsCliOptions } from './tls-options.js';
import { OCR_SERVICE } from '../shared/service-name.js';

/** TLS (`--tls`, `--tls-ca`, `--tls-cert`/`--tls-key`, `--tls-server-name`): tls-options.ts. */
export interface HealthCliOptions extends ClientTlsCliOptions {
  target: string;
  /** The service checked: ocr.v1.OcrService, or '' for the server as a whole. */
  service: string;
  deadlineMs: number;
}

/** Prints `TARGET SERVICE: STATUS` on stdout, or why there was no answer on stderr; resolves with the exit status. */
export async function healthCommand(opts: HealthCliOptions): Promise<number> {
  const tls = clientTls(opts);
  // As recognize and info check theirs: a URL, a host with no port or a port out of range would
  // otherwise fail as an unreachable server, or dial 443.
  checkTarget(opts.target, tls !== undefined);
  const client = healthClient(channelTarget(opts.target), tlsChannel(tls) ?? {});
  const name = opts.service === '' ? '(server)' : opts.service;
  try {
    const status = await client.check(opts.service, opts.deadlineMs);
    process.stdout.write(`${opts.target} ${name}: ${status}\n`);
    return status === 'SERVING' ? 0 : 1;
  } catch (err) {
    const details =
      err instanceof OcrCallError
        ? err.code === 'DEADLINE_EXCEEDED'
          ? `no answer within ${opts.deadlineMs} ms (--deadline-ms)`
          : err.code === 'NOT_FOUND'
            ? `${err.details}: the servers check ${OCR_SERVICE}, and '' for the server as a whole (--service)`
            : describeError(err).message
        : String(err);
    process.stderr.write(`ocr health: ${opts.target} ${name}: ${details}\n`);
    return 1;
  } finally {
    client.close();
  }
}
