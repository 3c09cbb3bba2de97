/**
 * A refusal for load that the client makes itself, without sending the call, when every instance
 * has just refused calls of its priority (least-request-balancer.ts). It carries the hints a
 * server's refusal does, so that callers handle both alike, and a mark that says it was not sent.
 */
import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';
import { NEW_CALL_PUSHBACK_MS } from '../shared/pushback.js';
import type { Priority } from './call-settings.js';

/** Trailer-like metadata key of a refusal the client made: the call never left it. */
export const LOCAL_REFUSAL_KEY = 'ocr-refused-by-client';

/**
 * How long the client holds a local refusal it cannot wait out before answering it: the server's
 * own pace (src/server/refusal-pace.ts). Answered at once, a caller that loops on refusals would
 * spin on its own host's cores.
 */
export const LOCAL_REFUSAL_HOLD_MS = 50;

/** The status of a call of `priority` refused by the client; the first instance expects room in `waitMs`. */
export function localRefusal(priority: Priority, waitMs: number): StatusObject {
  const metadata = new Metadata();
  metadata.set('grpc-retry-pushback-ms', String(waitMs));
  metadata.set(NEW_CALL_PUSHBACK_MS, String(waitMs));
  metadata.set(LOCAL_REFUSAL_KEY, '1');
  return {
    code: Status.RESOURCE_EXHAUSTED,
    details:
      `every instance refused ${priority} calls for load; the first expects room in ${waitMs} ms: ` +
      'retry then, or with a longer deadline (this call was not sent)',
    metadata,
  };
}

/** Whether a refusal's metadata says the client made it. */
export function isLocalRefusal(metadata: Metadata): boolean {
  return metadata.get(LOCAL_REFUSAL_KEY).length > 0;
}
