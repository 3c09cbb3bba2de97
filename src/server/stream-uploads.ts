/**
 * The messages of an OCR call whose request is a stream (RecognizeTiles), each through the upload
 * gate (upload-gate.ts) as a unary call's request is. The early refusal enters the gate once, at a
 * unary call's metadata (early-refusal.ts); a stream carries many messages over time, and grpc-js
 * received each whole, whatever its size up to the message limit, before anything counted it: a
 * hundred streams over 25 connections, each sending one 28 MB tile, took a two-worker server from
 * 0.34 to 6.1 GB resident. Here each message enters the gate when its first bytes arrive (the
 * decoder's report of what it holds, incremental-decoder.ts), waits for its connection's turn with
 * its HTTP/2 stream paused, so that flow control keeps the rest on the client, reports its held
 * bytes, must keep coming while read (upload-idle.ts), is paused and stalled as the gate squeezes,
 * and is released once whole. Between messages a stream holds no upload place: a handler busy with
 * a tile keeps its stream paused, not its connection's uploads.
 */
import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { OCR_SERVICE } from '../shared/service-name.js';
import type { OcrError } from '../shared/errors.js';
import { findUnderCall } from './call-chain.js';
import type { ServiceLimits } from './call-context.js';
import { findDecoder, reportHeldBytes } from './incremental-decoder.js';
import { stopRequestUpload } from './request-upload.js';
import { toStatus } from './status.js';
import { isUploadStream, type UploadGate, type UploadTicket } from './upload-gate.js';
import { uploadIdleError, watchUploadIdle } from './upload-idle.js';

const OCR_PREFIX = `/${OCR_SERVICE}/`;

/** The ticket of the message each call's HTTP/2 stream is uploading, by stream. */
const uploading = new WeakMap<object, UploadTicket>();

/**
 * Whether the gate holds the message that a handler's `call` is receiving: waiting for its turn, or
 * paused while the gate squeezes. Its client is not keeping the handler waiting meanwhile, the
 * server is, so a stream's idle clock does not end it for that (stream-call.ts).
 */
export function gateHoldsMessage(call: object): boolean {
  // grpc-js's handler call keeps the outermost intercepting call as `call`, not in its public type.
  const top = 'call' in call ? call.call : null;
  const stream = typeof top === 'object' && top !== null ? findUnderCall(top, 'stream', isUploadStream) : null;
  const ticket = stream ? uploading.get(stream) : undefined;
  return ticket !== undefined && ticket.readingSince === undefined;
}

/** A message's upload: the gate's ticket, and the idle watch from its turn. */
interface MessageUpload {
  ticket: UploadTicket;
  unwatch: () => void;
}

export function streamUploads(uploads: UploadGate, limits: Pick<ServiceLimits, 'maxUploadIdleMs'>): ServerInterceptor {
  return (descriptor, call) => {
    if (!descriptor.requestStream || !descriptor.path.startsWith(OCR_PREFIX)) return new ServerInterceptingCall(call);
    // Where grpc-js keeps its own decoder or stream (another version), its messages are read as they come.
    const decoder = findDecoder(call);
    const stream = findUnderCall(call, 'stream', isUploadStream);
    if (!decoder || !stream) return new ServerInterceptingCall(call);
    let upload: MessageUpload | undefined;
    /** What the decoder holds of the message arriving, as it last said. */
    let held = 0;
    const release = (): void => {
      upload?.unwatch();
      upload?.ticket.release();
      upload = undefined;
      uploading.delete(stream);
    };
    /** End the call with `error`: its client stopped sending. The handler counts and logs its own end. */
    const stall = (error: OcrError): void => {
      release();
      call.sendStatus(toStatus(error));
      stopRequestUpload(call);
    };
    /** A message has started to arrive: its turn now, or its stream paused until then. */
    const enter = (): void => {
      let waited = false;
      let unwatch = (): void => undefined;
      const ticket = uploads.enter(
        call.getPeer(),
        (turn) => {
          unwatch = watchUploadIdle(
            decoder,
            limits.maxUploadIdleMs,
            () => stall(uploadIdleError(limits.maxUploadIdleMs)),
            () => turn.readingSince,
          );
          turn.held(held);
          if (waited) stream.resume();
        },
        { stream, onStall: () => stall(uploads.stallError()) },
      );
      upload = { ticket, unwatch: () => unwatch() };
      uploading.set(stream, ticket);
      if (ticket.readingSince === undefined) {
        waited = true;
        stream.pause();
      }
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            reportHeldBytes(decoder, (bytes) => {
              held = bytes;
              if (upload) upload.ticket.held(bytes);
              else if (bytes > 0) enter();
            });
            pass(metadata);
          },
          onReceiveMessage: (message, pass) => {
            release();
            pass(message);
          },
          onCancel: release,
        }),
    });
  };
}
