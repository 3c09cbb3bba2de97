import type { handleBidiStreamingCall } from '@grpc/grpc-js';
import type { QuotaCharges } from '../auth/access-control.js';
import { quotaChargesOf } from './call-quota.js';
import type { ServiceContext } from './call-context.js';
import { CallRecord, type CallInfo, type Method } from './call-handler.js';
import { IncomingMessages } from './incoming-messages.js';
import { gateHoldsMessage } from './stream-uploads.js';
import { decodedEach } from './request-decoding.js';
import { checkedEach, tokenCheckOf } from './stream-token.js';

/** What a streaming handler has of its call besides the incoming messages. */
export interface StreamCall<Res> extends CallInfo {
  /** The connection the call came on (address and port). */
  peer: string;
  /** Sends a response; dropped once the call has ended. */
  write(message: Res): void;
  /**
   * Runs `task` beside the handler, as part of the call: its failure ends the call at once with
   * its status, and the call ends OK only once the handler and every task are done. A task forked
   * after the call has ended is not run.
   */
  fork(task: () => Promise<void>): void;
  /**
   * Ends the call with `error()` once it has waited `ms` on its client: the clock runs only while
   * the handler waits for the next message and no forked task runs, never while the server works
   * or holds that message at its upload gate (stream-uploads.ts).
   */
  limitIdle(ms: number, error: () => unknown): void;
  /** The caller's quota past the call's admission; none where no quota applies (call-quota.ts). */
  charges?: QuotaCharges;
}

export type StreamHandler<Req, Res> = (messages: AsyncIterable<Req>, call: StreamCall<Res>) => Promise<void>;

/**
 * A bidirectional-streaming handler: the incoming messages as an async iterable, read one at a
 * time as the handler asks; the call ends at its first failure (the handler's, a task's, the idle
 * limit's, its token's when that no longer holds: stream-token.ts), when the caller leaves, or OK
 * once the handler and its tasks are done. Request id, signal, priority, status, metrics and log
 * are call-handler.ts's, as for a unary call.
 */
export function bidiStream<Req, Res>(
  ctx: ServiceContext,
  method: Method,
  work: StreamHandler<Req, Res>,
): handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const record = new CallRecord(ctx, method, call);
    let handlerDone = false;
    let tasks = 0;
    let idle: { ms: number; error: () => unknown } | null = null;
    let idleTimer: NodeJS.Timeout | undefined;
    const messages = new IncomingMessages<Req>(call, record.signal, () => watchIdle());
    const check = tokenCheckOf(call.metadata);
    const charges = quotaChargesOf(call.metadata);

    /**
     * `send` is false when grpc-js has already ended the call with a status of its own; `stalled`
     * when the idle limit ends it.
     */
    const finish = (error?: unknown, send = true, stalled = false): void => {
      clearTimeout(idleTimer);
      const reply = record.end(error, { messages: messages.count }, stalled);
      if (reply.send === 'ok') call.end();
      else if (reply.send === 'error' && send) call.emit('error', reply.error);
    };
    const finishIfDone = (): void => {
      if (handlerDone && tasks === 0) finish();
    };
    const watchIdle = (): void => {
      clearTimeout(idleTimer);
      if (!idle || !record.open || !messages.waiting || tasks > 0) return;
      const { ms, error } = idle;
      // While the upload gate holds the message coming, the handler waits on the server, not on the
      // client: the clock goes on only a whole limit after the gate has let it go.
      let held = false;
      const expire = (): void => {
        const holds = gateHoldsMessage(call);
        if (!holds && !held) return finish(error(), true, true);
        held = holds;
        idleTimer = setTimeout(expire, ms);
      };
      idleTimer = setTimeout(expire, ms);
    };

    // The caller leaving, or the call ending any other way, ends it here; a second end is a no-op.
    record.signal.addEventListener('abort', () => finish(record.signal.reason), { once: true });
    call.on('error', (err: unknown) => finish(err, false));

    const run = async (task: () => Promise<void>): Promise<void> => task();
    const start = async (): Promise<void> =>
      work(decodedEach(check ? checkedEach(messages, check) : messages), {
        ...record.info(),
        peer: record.peer,
        ...(charges ? { charges } : {}),
        write: (message) => {
          if (record.open) call.write(message);
        },
        fork: (task) => {
          if (!record.open) return;
          tasks++;
          watchIdle();
          run(task).then(
            () => {
              tasks--;
              watchIdle();
              finishIfDone();
            },
            (err: unknown) => finish(err),
          );
        },
        limitIdle: (ms, error) => {
          idle = { ms, error };
          watchIdle();
        },
      });
    start().then(
      () => {
        handlerDone = true;
        finishIfDone();
      },
      (err: unknown) => finish(err),
    );
  };
}
