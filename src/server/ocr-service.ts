import type { OcrServiceServer } from '../gen/ocr/v1/ocr.js';
import type { ServiceContext } from './call-context.js';
import type { OcrHandlers } from './ocr-handlers.js';
import { bidiStream } from './stream-call.js';
import { recognizeTiles } from './tile-stream.js';
import { unary } from './unary-call.js';

/** The gRPC service: the handlers, each wrapped for its call's deadline, metrics, logs and status. */
export function createOcrService(ctx: ServiceContext, handlers: OcrHandlers): OcrServiceServer {
  return {
    recognize: unary(ctx, 'Recognize', handlers.recognize),
    recognizeLines: unary(ctx, 'RecognizeLines', handlers.recognizeLines),
    getServerInfo: unary(ctx, 'GetServerInfo', handlers.getServerInfo),
    recognizeTiles: bidiStream(ctx, 'RecognizeTiles', (tiles, call) => recognizeTiles(ctx, tiles, call)),
  };
}
