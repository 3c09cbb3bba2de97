/**
 * A grpc.health.v1 client: the Check that Consul's check, `ocr health`, a container's probe and
 * the start benchmark make. Not part of the SDK's surface: its callers are the CLI and the tooling.
 */
import {
  credentials,
  makeClientConstructor,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ServiceError,
} from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { callOptions } from './call-settings.js';
import { toOcrCallError } from './errors.js';

interface HealthStub {
  check(
    request: { service: string },
    options: Partial<CallOptions>,
    callback: (err: ServiceError | null, reply?: { status: string }) => void,
  ): void;
  close(): void;
}

export interface HealthClient {
  /** The status the server gives `service` ('' for the server as a whole); rejects with an OcrCallError when there is no answer. */
  check(service: string, deadlineMs: number): Promise<string>;
  close(): void;
}

const Health = makeClientConstructor(healthService, 'grpc.health.v1.Health');

/** Plaintext unless `channel` says otherwise (client/tls.ts makes one for TLS). */
export function healthClient(target: string, channel: { credentials?: ChannelCredentials; options?: ChannelOptions } = {}): HealthClient {
  const stub = new Health(target, channel.credentials ?? credentials.createInsecure(), channel.options ?? {}) as unknown as HealthStub;
  return {
    check: (service, deadlineMs) =>
      new Promise((resolve, reject) =>
        // As the SDK's calls: a deadline too far off for grpc-js to send (it throws, uncaught) is sent as none.
        stub.check({ service }, callOptions(deadlineMs), (err, reply) =>
          err ? reject(toOcrCallError(err)) : resolve(reply?.status ?? 'UNKNOWN'),
        ),
      ),
    close: () => stub.close(),
  };
}
