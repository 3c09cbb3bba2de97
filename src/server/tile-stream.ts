import type { ServerDuplexStream } from '@grpc/grpc-js';
import { decodeImage } from '../engine/decode.js';
import type { RecognizeOptions } from '../engine/engine.js';
import type { OcrLine, Quad } from '../engine/types.js';
import type { TileRequest, TileResponse } from '../gen/ocr/v1/ocr.js';
import { invalidArgument } from '../shared/errors.js';
import { planMerge } from '../shared/tile-merge.js';
import { callSignal, requestId, type ServiceContext } from './call-context.js';
import { fromOptions, toLine, toTimings } from './convert.js';
import { statusName, toServiceError } from './status.js';
import { TileAssembly } from './tile-assembly.js';

interface ImageState {
  assembly: TileAssembly;
  options: RecognizeOptions;
  /** Tiles accepted and still being read. */
  reading: number;
  finishing: boolean;
  started: number;
}

const shift = (quad: Quad, dx: number, dy: number): Quad => quad.map(([x, y]) => [x + dx, y + dy]) as Quad;

/** A small FIFO semaphore: a stream's tiles are read a few at a time, in arrival order. */
class Slots {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/**
 * One RecognizeTiles call. Tiles are decoded and checked in arrival order, read as soon as a slot
 * is free and answered at once; an image's final message merges its tiles' lines, re-reading on the
 * assembled image the lines that tile borders cut. Any malformed tile ends the call with its status.
 */
export function handleTileStream(call: ServerDuplexStream<TileRequest, TileResponse>, ctx: ServiceContext): void {
  const id = requestId(call.metadata);
  const controller = callSignal(call);
  const images = new Map<string, ImageState>();
  const slots = new Slots(ctx.limits.tileConcurrency);
  const started = performance.now();
  let intake: Promise<void> = Promise.resolve();
  let ended = false;
  let failed = false;
  let tilesSeen = 0;

  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    controller.abort();
    const error = toServiceError(err);
    const code = statusName(error.code);
    ctx.metrics.requests.inc({ method: 'RecognizeTiles', code });
    ctx.logger.info({ requestId: id, method: 'RecognizeTiles', code, message: error.details }, 'refused');
    call.emit('error', error);
  };

  const finishIfDone = (): void => {
    if (failed || !ended || images.size > 0) return;
    ctx.metrics.requests.inc({ method: 'RecognizeTiles', code: 'OK' });
    ctx.metrics.latency.observe({ method: 'RecognizeTiles' }, (performance.now() - started) / 1000);
    ctx.logger.debug({ requestId: id, method: 'RecognizeTiles', tiles: tilesSeen }, 'answered');
    call.end();
  };

  const finishImage = async (imageId: string, state: ImageState): Promise<void> => {
    const { assembly } = state;
    const hole = assembly.uncovered();
    if (hole) {
      throw invalidArgument(
        `image '${imageId}': its ${assembly.tileCount} tiles leave the region x=${hole.x} y=${hole.y} ` +
          `${hole.width}x${hole.height} uncovered; send tiles that cover the whole image`,
      );
    }
    const readStarted = performance.now();
    const plan = planMerge(assembly.imageWidth, assembly.imageHeight, assembly.results, {
      rowMergeGap: ctx.engine.config.rowMergeGap,
    });
    const reread = await ctx.engine.recognizeRegions(assembly.canvas(), plan.reread, state.options);
    const lines: OcrLine[] = ctx.engine.finalize([...plan.keep, ...reread], state.options);
    const recognizeMs = performance.now() - readStarted;
    ctx.metrics.lines.inc(lines.length);
    images.delete(imageId);
    call.write({
      imageId,
      result: {
        $case: 'image',
        value: { width: assembly.imageWidth, height: assembly.imageHeight, tileCount: assembly.tileCount, lines: lines.map(toLine) },
      },
      instanceId: ctx.instanceId,
      timings: toTimings({ queueMs: 0, decodeMs: 0, detectMs: 0, classifyMs: 0, recognizeMs, totalMs: performance.now() - state.started }),
    });
  };

  const readTile = async (tile: TileRequest): Promise<void> => {
    const decodeStarted = performance.now();
    if (!tile.imageId) throw invalidArgument(`tile ${tile.tileIndex} has no image_id; name the image each tile belongs to`);
    let state = images.get(tile.imageId);
    if (!state) {
      const assembly = new TileAssembly(
        { imageId: tile.imageId, imageWidth: tile.imageWidth, imageHeight: tile.imageHeight, tileCount: tile.tileCount },
        { maxPixels: ctx.limits.maxTiledPixels, maxTiles: ctx.limits.maxTilesPerImage },
      );
      state = { assembly, options: fromOptions(tile.options, controller.signal), reading: 0, finishing: false, started: decodeStarted };
      images.set(tile.imageId, state);
    }
    const { image } = await decodeImage(tile.image, ctx.engine.config.decodeLimits).catch((err: unknown) => {
      throw Object.assign(err as Error, { message: `image '${tile.imageId}' tile ${tile.tileIndex}: ${(err as Error).message}` });
    });
    const rect = { x: tile.x, y: tile.y, width: image.width, height: image.height };
    state.assembly.accept({ index: tile.tileIndex, ...rect, imageWidth: tile.imageWidth, imageHeight: tile.imageHeight, tileCount: tile.tileCount });
    state.assembly.paste(rect, image);
    state.reading++;
    const decodeMs = performance.now() - decodeStarted;
    const current = state;
    // Reading runs beside the intake of the next tiles; the intake only waits for a free slot.
    await slots.take();
    void (async () => {
      try {
        const result = await ctx.engine.recognizeImage(image, current.options);
        const lines = result.lines.map((l) => ({ ...l, box: shift(l.box, tile.x, tile.y) }));
        current.assembly.addResult({ tile: rect, lines });
        if (failed) return;
        call.write({
          imageId: tile.imageId,
          result: { $case: 'tile', value: { tileIndex: tile.tileIndex, lines: lines.map(toLine) } },
          instanceId: ctx.instanceId,
          timings: toTimings({ ...result.timings, decodeMs, totalMs: result.timings.totalMs + decodeMs }),
        });
        current.reading--;
        if (current.assembly.complete && current.reading === 0 && !current.finishing) {
          current.finishing = true;
          await finishImage(tile.imageId, current);
        }
        finishIfDone();
      } catch (err) {
        fail(err);
      } finally {
        slots.give();
      }
    })();
  };

  call.on('data', (tile: TileRequest) => {
    tilesSeen++;
    intake = intake.then(() => (failed ? undefined : readTile(tile))).catch(fail);
  });
  call.on('end', () => {
    void intake.then(() => {
      ended = true;
      if (failed) return;
      const incomplete = [...images.values()].find((s) => !s.assembly.complete);
      if (incomplete) {
        fail(invalidArgument(`stream ended mid-image: ${incomplete.assembly.describeIncomplete()}`));
        return;
      }
      finishIfDone();
    });
  });
  call.on('error', () => controller.abort());
}
