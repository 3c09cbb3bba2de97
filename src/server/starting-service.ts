/**
 * OcrService while the models load. The server binds its ports, builds its HTTP front door and
 * answers health (NOT_SERVING) and reflection while the inference workers load the models, so that
 * none of that waits for them; a call that comes this early is answered UNAVAILABLE, which clients
 * retry, as they would a connection refused a moment before.
 */
import { status, type ServerDuplexStream, type sendUnaryData } from '@grpc/grpc-js';
import type { OcrServiceServer } from '../gen/ocr/v1/ocr.js';
import { OcrError } from '../shared/errors.js';

/** Why a call this early is refused, and what any caller can do; each protocol adds how to know when it is over. */
export const STARTING_REASON = 'the server is starting: its models are still loading; retry in a moment';

export const STARTING_MESSAGE = `${STARTING_REASON}, or wait for health to say SERVING`;

const unavailable = { code: status.UNAVAILABLE, details: STARTING_MESSAGE };

const refuseUnary = (_call: unknown, callback: sendUnaryData<never>): void => callback(unavailable);

export function startingService(): OcrServiceServer {
  return {
    recognize: refuseUnary,
    recognizeLines: refuseUnary,
    getServerInfo: refuseUnary,
    recognizeTiles: (call: ServerDuplexStream<unknown, unknown>) => call.emit('error', unavailable),
  };
}

/** The same answer for the HTTP front door (503). */
export const startingError = (): OcrError => new OcrError('UNAVAILABLE', STARTING_MESSAGE);
