/** The HTTP front door of `ocr serve`: the same handlers as gRPC, on this instance's engine. */
import type { HttpCall, OcrBackend } from '../http/backend.js';
import type { ServiceContext } from './call-context.js';
import type { OcrHandlers } from './ocr-handlers.js';

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

const callInfo = (call: HttpCall) => ({
  signal: call.signal,
  priority: call.priority,
  ...(call.deadline !== undefined ? { deadline: call.deadline } : {}),
});

export function localBackend(ctx: ServiceContext, handlers: OcrHandlers, serving: () => boolean): OcrBackend {
  return {
    recognize: (image, options, call) => handlers.recognize({ image: asBuffer(image), options }, callInfo(call)),
    recognizeLines: (images, options, call) => handlers.recognizeLines({ images: images.map(asBuffer), options }, callInfo(call)),
    serverInfo: () => handlers.getServerInfo({}),
    ready: serving,
    metrics: async () => ({ contentType: ctx.metrics.registry.contentType, text: await ctx.metrics.registry.metrics() }),
  };
}
