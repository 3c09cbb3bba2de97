import { status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import type {
  GetServerInfoRequest,
  OcrServiceServer,
  RecognizeLinesRequest,
  RecognizeLinesResponse,
  RecognizeRequest,
  RecognizeResponse,
  ServerInfo,
} from '../gen/ocr/v1/ocr.js';
import { OcrError, resourceExhausted } from '../shared/errors.js';
import { callDeadline, callPriority, callSignal, requestId, type ServiceContext } from './call-context.js';
import type { RecognizeOptions as EngineOptions } from '../engine/engine.js';
import { fromOptions, toLine, toTimings } from './convert.js';
import { toServiceError, statusName } from './status.js';
import { handleTileStream } from './tile-stream.js';

type Method = 'Recognize' | 'RecognizeLines' | 'GetServerInfo';

/** What a handler knows of its call beyond the request: cancellation, deadline, priority. */
type CallInfo = Pick<EngineOptions, 'signal' | 'deadline' | 'priority'> & { signal: AbortSignal };

/**
 * Runs one unary call: cancellation, deadline and priority wired to the engine, errors mapped to
 * statuses, and one log line and metric sample per call. A call whose caller is gone (deadline
 * passed, cancelled) is counted as such, never as OK: grpc-js has already answered it.
 */
function unary<Req, Res>(
  ctx: ServiceContext,
  method: Method,
  work: (request: Req, info: CallInfo) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    const started = performance.now();
    const id = requestId(call.metadata);
    const controller = callSignal(call);
    const deadline = callDeadline(call);
    ctx.logger.debug({ requestId: id, method, deadline }, 'received');
    const answer = async (): Promise<Res> => work(call.request, { signal: controller.signal, deadline, priority: callPriority(call.metadata) });
    answer().then(
      (response) => {
        const seconds = (performance.now() - started) / 1000;
        const late = deadline !== undefined && Date.now() >= deadline;
        const code = late ? 'DEADLINE_EXCEEDED' : controller.signal.aborted ? 'CANCELLED' : 'OK';
        ctx.metrics.requests.inc({ method, code });
        if (code !== 'OK') {
          ctx.logger.info({ requestId: id, method, code, ms: Math.round(seconds * 1000) }, 'answer ready after the caller left');
          return;
        }
        ctx.metrics.latency.observe({ method }, seconds);
        ctx.logger.debug({ requestId: id, method, ms: Math.round(seconds * 1000) }, 'answered');
        callback(null, response);
      },
      (err: unknown) => {
        const error = toServiceError(err);
        const code = statusName(error.code);
        ctx.metrics.requests.inc({ method, code });
        const log = { requestId: id, method, code, message: error.details, peer: call.getPeer() };
        if (error.code === status.INTERNAL) ctx.logger.error({ ...log, err }, 'failed');
        else ctx.logger.info(log, 'refused');
        callback(error);
      },
    );
  };
}

export function createOcrService(ctx: ServiceContext): OcrServiceServer {
  const { engine, metrics } = ctx;

  const recognize = async (request: RecognizeRequest, info: CallInfo): Promise<RecognizeResponse> => {
    const result = await engine.recognize(request.image, { ...fromOptions(request.options, info.signal), ...info });
    const t = result.timings;
    metrics.stage.observe({ stage: 'queue' }, t.queueMs / 1000);
    metrics.stage.observe({ stage: 'decode' }, t.decodeMs / 1000);
    metrics.stage.observe({ stage: 'detect' }, t.detectMs / 1000);
    metrics.stage.observe({ stage: 'recognize' }, t.recognizeMs / 1000);
    metrics.lines.inc(result.lines.length);
    return {
      lines: result.lines.map(toLine),
      width: result.width,
      height: result.height,
      instanceId: ctx.instanceId,
      timings: toTimings(t),
    };
  };

  const recognizeLines = async (request: RecognizeLinesRequest, info: CallInfo): Promise<RecognizeLinesResponse> => {
    const started = performance.now();
    const count = request.images.length;
    if (count === 0) throw new OcrError('INVALID_ARGUMENT', 'images is empty: send at least one line image');
    if (count > ctx.limits.maxLinesPerRequest) {
      throw resourceExhausted(`${count} images in one call; this server takes at most ${ctx.limits.maxLinesPerRequest}: split the batch`);
    }
    const outcomes = await engine.recognizeLines(request.images, { ...fromOptions(request.options, info.signal), ...info });
    const timings = { queueMs: 0, decodeMs: 0, detectMs: 0, classifyMs: 0, recognizeMs: 0, totalMs: 0 };
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
      },
      defaults: {
        maxSideLen: d.maxSideLen,
        minSideLen: d.minSideLen,
        boxThreshold: d.boxThreshold,
        unclipRatio: d.unclipRatio,
        useAngleCls: d.useAngleCls,
        minConfidence: d.minConfidence,
      },
    };
  };

  return {
    recognize: unary(ctx, 'Recognize', recognize),
    recognizeLines: unary(ctx, 'RecognizeLines', recognizeLines),
    getServerInfo: unary(ctx, 'GetServerInfo', getServerInfo),
    recognizeTiles: (call) => handleTileStream(call, ctx),
  };
}
