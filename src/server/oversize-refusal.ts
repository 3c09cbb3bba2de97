/**
 * The answer to an OCR call whose message is larger than the server takes, from its length prefix.
 * grpc-js's own answer is RESOURCE_EXHAUSTED "Received message larger than max (41943045 vs
 * 33557504)": byte counts with the request's framing in them, no word of the limit or of what to do,
 * and no `grpc-retry-pushback-ms: -1`, so a client whose retry policy covers RESOURCE_EXHAUSTED (or a
 * gateway mapping it to 429) sends the whole message again. Here it gets the same words as an image
 * over the limit inside a message that fits (ocr-handlers.ts) and the HTTP API's, the -1, and the
 * stream is reset so that the client stops uploading what will not be read (request-upload.ts).
 */
import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { resourceExhausted } from '../shared/errors.js';
import { tooLarge } from '../shared/image-limit.js';
import { OCR_SERVICE } from '../shared/service-name.js';
import { findDecoder, reportTooLarge } from './incremental-decoder.js';
import type { ServerMetrics } from './metrics.js';
import { stopRequestUpload } from './request-upload.js';
import { statusName, toStatus } from './status.js';
import { requestId } from './call-context.js';
import type { Logger } from './logger.js';

const MIB = 1024 * 1024;

/** What the caller is told of a message of `length` bytes, by method. */
export function oversizeMessage(method: string, length: number, maxImageBytes: number): string {
  const size = `the message is ${(length / MIB).toFixed(1)} MiB`;
  switch (method) {
    case 'Recognize':
      return `${size}: ${tooLarge(maxImageBytes, false)}`;
    case 'RecognizeLines':
      return `${size}: ${tooLarge(maxImageBytes, true)}`;
    case 'RecognizeTiles':
      return `${size}, a tile larger than this server's limit of ${(maxImageBytes / MIB).toFixed(0)} MiB a message; send smaller tiles`;
    default:
      return `${size}, larger than this server's limit of ${(maxImageBytes / MIB).toFixed(0)} MiB a message`;
  }
}

/**
 * `maxImageBytes`: the server's limit on a request's images (--max-message-mb), which the message
 * limit adds framing to. `logger`: where a unary call's refusal is logged, as the handlers log theirs
 * (call-handler.ts); asked at each refusal, since the server's is made once its port is bound.
 */
export function oversizeRefusal(
  maxImageBytes: number,
  metrics: ServerMetrics,
  logger: () => Logger | undefined = () => undefined,
): ServerInterceptor {
  const prefix = `/${OCR_SERVICE}/`;
  return (descriptor, call) => {
    if (!descriptor.path.startsWith(prefix)) return new ServerInterceptingCall(call);
    const method = descriptor.path.slice(prefix.length);
    // grpc-js makes the interceptors in the turn the stream came: its refusal is timed from here.
    const arrived = performance.now();
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const decoder = findDecoder(call);
            if (decoder) {
              reportTooLarge(decoder, (length) => {
                const status = toStatus(resourceExhausted(oversizeMessage(method, length, maxImageBytes)));
                // A stream's handler counts and logs its own end; a unary call never reached its handler.
                if (!descriptor.requestStream) {
                  const code = statusName(status.code);
                  metrics.answeredNotOk(method, code, arrived);
                  logger()?.info(
                    {
                      requestId: requestId(metadata),
                      method,
                      code,
                      message: status.details,
                      ms: Math.round(performance.now() - arrived),
                      peer: call.getPeer(),
                    },
                    'refused',
                  );
                }
                call.sendStatus(status);
                stopRequestUpload(call);
              });
            }
            pass(metadata);
          },
        }),
    });
  };
}
