/** What each unary call of the service does, whichever door it came in by (gRPC, HTTP). */
import type {
  GetServerInfoRequest,
  RecognizeLinesRequest,
  RecognizeLinesResponse,
  RecognizeRequest,
  RecognizeResponse,
  ServerInfo,
} from '../gen/ocr/v1/ocr.js';
import { zeroTimings } from '../engine/index.js';
import { OcrError, resourceExhausted } from '../shared/errors.js';
import { tooLarge } from '../shared/image-limit.js';
import type { ServiceContext } from './call-context.js';
import { fromOptions, toLine, toTimings } from './convert.js';
import type { CallInfo } from './unary-call.js';

export interface OcrHandlers {
  recognize: (request: RecognizeRequest, info: CallInfo) => Promise<RecognizeResponse>;
  recognizeLines: (request: RecognizeLinesRequest, info: CallInfo) => Promise<RecognizeLinesResponse>;
  getServerInfo: (request: GetServerInfoRequest) => Promise<ServerInfo>;
}

export function createOcrHandlers(ctx: ServiceContext): OcrHandlers {
  const { engine, metrics } = ctx;

  /** The limit is on the images; the gRPC message may be a little larger (server.ts). */
  const checkSize = (images: readonly Uint8Array[], many: boolean): void => {
    const bytes = images.reduce((sum, image) => sum + image.byteLength, 0);
    if (bytes > ctx.limits.maxMessageBytes) throw resourceExhausted(tooLarge(ctx.limits.maxMessageBytes, many));
  };

  const recognize = async (request: RecognizeRequest, info: CallInfo): Promise<RecognizeResponse> => {
    checkSize([request.image], false);
    const result = await engine.recognize(request.image, { ...fromOptions(request.options, info.signal), ...info });
    const t = result.timings;
    metrics.stage.observe({ stage: 'queue' }, t.queueMs / 1000);
    metrics.stage.observe({ stage: 'decode' }, t.decodeMs / 1000);
    metrics.stage.observe({ stage: 'detect' }, t.detectMs / 1000);
    // The angle classifier's votes on the page's orientation (auto_rotate, on by default), which detect leaves out.
    metrics.stage.observe({ stage: 'classify' }, t.classifyMs / 1000);
    metrics.stage.observe({ stage: 'recognize' }, t.recognizeMs / 1000);
    metrics.lines.inc(result.lines.length);
    return {
      lines: result.lines.map(toLine),
      width: result.width,
      height: result.height,
      instanceId: ctx.instanceId,
      timings: toTimings(t),
      rotation: result.rotation,
      cached: false,
    };
  };

  const recognizeLines = async (request: RecognizeLinesRequest, info: CallInfo): Promise<RecognizeLinesResponse> => {
    const started = performance.now();
    const count = request.images.length;
    if (count === 0) throw new OcrError('INVALID_ARGUMENT', 'images is empty: send at least one line image');
    if (count > ctx.limits.maxLinesPerRequest) {
      throw resourceExhausted(`${count} images in one call; this server takes at most ${ctx.limits.maxLinesPerRequest}: split the batch`);
    }
    checkSize(request.images, true);
    const outcomes = await engine.recognizeLines(request.images, { ...fromOptions(request.options, info.signal), ...info });
    const timings = zeroTimings();
    for (const o of outcomes) {
      if (!o.ok) continue;
      timings.queueMs = Math.max(timings.queueMs, o.timings.queueMs);
      timings.decodeMs = Math.max(timings.decodeMs, o.timings.decodeMs);
      timings.classifyMs = Math.max(timings.classifyMs, o.timings.classifyMs);
      timings.recognizeMs = Math.max(timings.recognizeMs, o.timings.recognizeMs);
    }
    timings.totalMs = performance.now() - started;
    metrics.lines.inc(outcomes.filter((o) => o.ok).length);
    return {
      results: outcomes.map((o) =>
        o.ok
          ? { text: o.line.text, confidence: o.line.confidence, error: undefined }
          : { text: '', confidence: 0, error: { code: o.error.code, message: o.error.message } },
      ),
      instanceId: ctx.instanceId,
      timings: toTimings(timings),
    };
  };

  const getServerInfo = async (_request: GetServerInfoRequest): Promise<ServerInfo> => {
    const info = engine.info();
    const d = engine.config.defaults;
    return {
      instanceId: ctx.instanceId,
      serverVersion: ctx.serverVersion,
      manifest: info.manifest,
      models: info.models,
      dictionarySize: info.dictionarySize,
      workers: info.workers,
      threadsPerWorker: info.threadsPerWorker,
      limits: {
        maxPixels: info.limits.maxPixels,
        minSide: info.limits.minSide,
        maxMessageBytes: ctx.limits.maxMessageBytes,
        maxLinesPerRequest: ctx.limits.maxLinesPerRequest,
        maxTilesPerImage: ctx.limits.maxTilesPerImage,
        maxQueuedRequests: 0,
        memoryBudgetBytes: info.limits.memoryBudgetBytes,
        maxWaitMs: info.limits.maxWaitMs,
      },
      defaults: {
        maxSideLen: d.maxSideLen,
        minSideLen: d.minSideLen,
        boxThreshold: d.boxThreshold,
        unclipRatio: d.unclipRatio,
        useAngleCls: d.useAngleCls,
        minConfidence: d.minConfidence,
        autoRotate: d.autoRotate,
      },
    };
  };

  return { recognize, recognizeLines, getServerInfo };
}
