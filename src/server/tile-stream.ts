import type { Readable } from 'node:stream';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { decodeImage, zeroTimings, type OcrLine, type Quad, type RawImage, type RecognizeOptions, type Reservation } from '../engine/index.js';
import type { TileRequest, TileResponse } from '../gen/ocr/v1/ocr.js';
import { OcrError, invalidArgument, resourceExhausted } from '../shared/errors.js';
import type { Rect } from '../shared/quad.js';
import { planMerge } from '../shared/tile-merge.js';
import { callSignal, requestId, type ServiceContext } from './call-context.js';
import { fromOptions, toLine, toTimings } from './convert.js';
import { statusName, toServiceError } from './status.js';
import { StreamMemory, mib } from './stream-memory.js';
import { TileAssembly } from './tile-assembly.js';

interface ImageState {
  assembly: TileAssembly;
  options: RecognizeOptions;
  /** The canvas's share of the memory budget, held from the image's first paste to its final message. */
  canvas: Reservation | null;
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

/** RecognizeTiles streams open per connection (peer address and port), per server. */
const openStreams = new WeakMap<ServiceContext, Map<string, number>>();

/**
 * grpc-js reads messages ahead of the handler up to Node's object-mode high-water mark (16), even
 * while the call is paused: with 32 MiB messages that is 512 MiB a stream that no budget sees. At
 * 1, a paused call holds one message and HTTP/2 flow control holds the client back. Node has no
 * public setter for a stream's mark.
 */
function readOneAhead(call: Readable): void {
  const state = (call as unknown as { _readableState?: { highWaterMark: number } })._readableState;
  if (state) state.highWaterMark = 1;
}

const quoted = (ids: Iterable<string>): string => [...ids].map((id) => `'${id}'`).join(', ');

/**
 * One RecognizeTiles call. Tiles are taken one at a time in arrival order: decoded, checked,
 * pasted into their image's canvas, then read as soon as a slot is free and answered at once; an
 * image's final message merges its tiles' lines, re-reading on the assembled image the lines that
 * tile borders cut. Canvases and decoded tiles are held from the instance's memory budget: while
 * the stream waits for room, or holds its share with reads still to give some back, the call is
 * paused, so HTTP/2 flow control stops the client. Any malformed tile ends the call with its status.
 */
export function handleTileStream(call: ServerDuplexStream<TileRequest, TileResponse>, ctx: ServiceContext): void {
  const id = requestId(call.metadata);
  const { limits } = ctx;
  const controller = callSignal(call);
  const images = new Map<string, ImageState>();
  const slots = new Slots(limits.tileConcurrency);
  const budget = ctx.engine.budget;
  const memory = new StreamMemory(budget, budget.limitBytes * limits.tileStreamMemoryShare, limits.maxTileStreamIdleMs, controller.signal);
  const started = performance.now();
  let closed = false;
  /** The client half-closed: no more tiles. */
  let halfClosed = false;
  /** A message is being taken in; the call is paused meanwhile. */
  let taking = false;
  /** Tile reads (and the merges they end in) in progress. */
  let busy = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let leaveConnection = (): void => {};
  let tilesSeen = 0;

  /** Every way the call ends goes through here, so whatever the stream holds is given back. */
  const release = (): boolean => {
    if (closed) return false;
    closed = true;
    clearTimeout(idleTimer);
    controller.abort();
    memory.close();
    leaveConnection();
    return true;
  };

  /** `send` is false when the call is already gone (cancelled) and no status can reach the client. */
  const fail = (err: unknown, send = true): void => {
    if (!release()) return;
    const error = toServiceError(err);
    const code = statusName(error.code);
    ctx.metrics.requests.inc({ method: 'RecognizeTiles', code });
    ctx.logger.info({ requestId: id, method: 'RecognizeTiles', code, message: error.details }, 'refused');
    if (send) call.emit('error', error);
  };

  const finishIfDone = (): void => {
    if (closed || !halfClosed || images.size > 0) return;
    release();
    ctx.metrics.requests.inc({ method: 'RecognizeTiles', code: 'OK' });
    ctx.metrics.latency.observe({ method: 'RecognizeTiles' }, (performance.now() - started) / 1000);
    ctx.logger.debug({ requestId: id, method: 'RecognizeTiles', tiles: tilesSeen }, 'answered');
    call.end();
  };

  const idleError = (): OcrError => {
    const waiting = images.size > 0 ? `while images ${quoted(images.keys())} wait for more tiles` : 'without being half-closed';
    return new OcrError(
      'DEADLINE_EXCEEDED',
      `no message on this RecognizeTiles stream for ${limits.maxTileStreamIdleMs / 1000} s ${waiting}, the server's limit; ` +
        "send each image's tiles without pausing and half-close the stream after the last image",
    );
  };

  /** The idle clock runs only while the stream waits on its client, not while the server works on it. */
  const watchIdle = (): void => {
    clearTimeout(idleTimer);
    if (closed || halfClosed || taking || busy > 0) return;
    idleTimer = setTimeout(() => fail(idleError()), limits.maxTileStreamIdleMs);
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
    const lines: OcrLine[] = ctx.engine.orderLines([...plan.keep, ...reread], state.options);
    const recognizeMs = performance.now() - readStarted;
    ctx.metrics.lines.inc(lines.length);
    images.delete(imageId);
    state.canvas?.release();
    call.write({
      imageId,
      result: {
        $case: 'image',
        value: { width: assembly.imageWidth, height: assembly.imageHeight, tileCount: assembly.tileCount, lines: lines.map(toLine) },
      },
      instanceId: ctx.instanceId,
      timings: toTimings({ ...zeroTimings(), recognizeMs, totalMs: performance.now() - state.started }),
    });
  };

  const openImage = (tile: TileRequest, at: number): ImageState => {
    if (images.size >= limits.maxImagesPerStream) {
      throw resourceExhausted(
        `image '${tile.imageId}' would be image ${images.size + 1} open on this stream, past the server's limit of ` +
          `${limits.maxImagesPerStream} (${quoted(images.keys())} are still open); wait for an image's final message ` +
          'before starting another, or use another stream',
      );
    }
    const assembly = new TileAssembly(
      { imageId: tile.imageId, imageWidth: tile.imageWidth, imageHeight: tile.imageHeight, tileCount: tile.tileCount },
      { maxPixels: limits.maxTiledPixels, maxTiles: limits.maxTilesPerImage },
    );
    const state: ImageState = { assembly, options: fromOptions(tile.options, controller.signal), canvas: null, reading: 0, finishing: false, started: at };
    images.set(tile.imageId, state);
    return state;
  };

  /** Holds the image's canvas bytes before its first tile is decoded into it. */
  const holdCanvas = async (state: ImageState): Promise<void> => {
    const { assembly } = state;
    const others = [...images.values()].filter((s) => s.canvas);
    const othersBytes = others.reduce((sum, s) => sum + s.canvas!.bytes, 0);
    // Only a stream that already holds canvases is refused past its share: one image alone may take up to the whole budget.
    if (others.length > 0 && othersBytes + assembly.canvasBytes > memory.shareBytes) {
      throw resourceExhausted(
        `image '${assembly.imageId}' (${assembly.imageWidth}x${assembly.imageHeight}) would put the canvases of this stream's ` +
          `open images at ${mib(othersBytes + assembly.canvasBytes)} MiB, past its ${mib(memory.shareBytes)} MiB share of ` +
          `the server's memory (images ${quoted(others.map((s) => s.assembly.imageId))} are unfinished); send an image's ` +
          'tiles together before starting the next, or send this image on another stream',
      );
    }
    state.canvas = await memory.take(assembly.canvasBytes, `image '${assembly.imageId}' (${assembly.imageWidth}x${assembly.imageHeight} canvas)`);
  };

  const readTile = async (tile: TileRequest, state: ImageState, image: RawImage, rect: Rect, decodeMs: number, held: Reservation): Promise<void> => {
    try {
      // Once read, the decoded tile is needed no more: its pixels are in the canvas.
      const result = await ctx.engine.recognizeImage(image, state.options).finally(() => held.release());
      const lines = result.lines.map((l) => ({ ...l, box: shift(l.box, tile.x, tile.y) }));
      state.assembly.addResult({ tile: rect, lines });
      if (closed) return;
      call.write({
        imageId: tile.imageId,
        result: { $case: 'tile', value: { tileIndex: tile.tileIndex, lines: lines.map(toLine) } },
        instanceId: ctx.instanceId,
        timings: toTimings({ ...result.timings, decodeMs, totalMs: result.timings.totalMs + decodeMs }),
      });
      state.reading--;
      if (state.assembly.complete && state.reading === 0 && !state.finishing) {
        state.finishing = true;
        await finishImage(tile.imageId, state);
      }
      finishIfDone();
    } catch (err) {
      fail(err);
    } finally {
      slots.give();
      busy--;
      watchIdle();
    }
  };

  /** One message: decoded, checked and pasted with its memory held, its read started, the stream under its share. */
  const take = async (tile: TileRequest): Promise<void> => {
    const decodeStarted = performance.now();
    if (!tile.imageId) throw invalidArgument(`tile ${tile.tileIndex} has no image_id; name the image each tile belongs to`);
    const state = images.get(tile.imageId) ?? openImage(tile, decodeStarted);
    if (!state.canvas) await holdCanvas(state);
    const { image } = await decodeImage(tile.image, ctx.engine.config.decodeLimits).catch((err: unknown) => {
      throw Object.assign(err as Error, { message: `image '${tile.imageId}' tile ${tile.tileIndex}: ${(err as Error).message}` });
    });
    const held = await memory.take(image.data.length, `image '${tile.imageId}' tile ${tile.tileIndex}`);
    const rect = { x: tile.x, y: tile.y, width: image.width, height: image.height };
    state.assembly.accept({ index: tile.tileIndex, ...rect, imageWidth: tile.imageWidth, imageHeight: tile.imageHeight, tileCount: tile.tileCount });
    state.assembly.paste(rect, image);
    state.reading++;
    busy++;
    const decodeMs = performance.now() - decodeStarted;
    // Reading runs beside the intake of the next tiles; the intake waits for a free slot.
    await slots.take();
    void readTile(tile, state, image, rect, decodeMs, held);
    // Backpressure: past its share, the stream reads no further until its reads give memory back.
    while (memory.full && busy > 0 && !closed) await memory.released();
  };

  const open = openStreams.get(ctx) ?? new Map<string, number>();
  openStreams.set(ctx, open);
  const peer = call.getPeer();
  const already = open.get(peer) ?? 0;
  if (already >= limits.maxTileStreamsPerConnection) {
    fail(
      resourceExhausted(
        `this connection already has ${already} RecognizeTiles streams open, the server's limit; send several images ` +
          'on one stream, or wait for a stream to end before opening another',
      ),
    );
    return;
  }
  open.set(peer, already + 1);
  leaveConnection = () => {
    const left = (open.get(peer) ?? 1) - 1;
    if (left > 0) open.set(peer, left);
    else open.delete(peer);
  };

  readOneAhead(call);
  // Each message is taken whole before the call reads the next; 'end' may come while the last is
  // still being taken (a paused stream still reports its end), so it waits for the intake too.
  let intake: Promise<void> = Promise.resolve();
  call.on('data', (tile: TileRequest) => {
    call.pause();
    tilesSeen++;
    taking = true;
    watchIdle();
    intake = take(tile).then(
      () => {
        taking = false;
        if (closed) return;
        watchIdle();
        call.resume();
      },
      (err: unknown) => fail(err),
    );
  });
  call.on('end', () => {
    void intake.then(() => {
      halfClosed = true;
      watchIdle();
      if (closed) return;
      const incomplete = [...images.values()].find((s) => !s.assembly.complete);
      if (incomplete) {
        fail(invalidArgument(`stream ended mid-image: ${incomplete.assembly.describeIncomplete()}`));
        return;
      }
      finishIfDone();
    });
  });
  call.on('cancelled', () => fail(new OcrError('CANCELLED', 'the client cancelled the stream'), false));
  call.on('error', (err: unknown) => fail(err, false));
  watchIdle();
}
