/** The HTTP front door of `ocr serve`: the same handlers as gRPC, on this instance's engine. */
import type { Registry } from 'prom-client';
import type { HttpCall, OcrBackend } from '../http/backend.js';
import type { OcrHandlers } from './ocr-handlers.js';
import { startingError } from './starting-service.js';

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

const callInfo = (call: HttpCall) => ({
  signal: call.signal,
  priority: call.priority,
  ...(call.deadline !== undefined ? { deadline: call.deadline } : {}),
});

/** `handlers`: what the front door answers with once the models have loaded; null before (starting-service.ts). */
export function localBackend(handlers: () => OcrHandlers | null, registry: Registry, serving: () => boolean): OcrBackend {
  const ready = (): OcrHandlers => {
    const h = handlers();
    if (!h) throw startingError();
    return h;
  };
  return {
    recognize: async (image, options, call) => ready().recognize({ image: asBuffer(image), options }, callInfo(call)),
    recognizeLines: async (images, options, call) => ready().recognizeLines({ images: images.map(asBuffer), options }, callInfo(call)),
    serverInfo: async () => ready().getServerInfo({}),
    ready: serving,
    starting: () => handlers() === null,
    metrics: async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
  };
}
