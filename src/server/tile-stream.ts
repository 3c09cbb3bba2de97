import { addAbortListener } from 'node:events';
import {
  probeImage,
  zeroTimings,
  type OcrLine,
  type Quad,
  type RawImage,
  type RecognizeOptions,
  type Reservation,
} from '../engine/index.js';
import type { TileRequest, TileResponse } from '../gen/ocr/v1/ocr.js';
import { OcrError, invalidArgument, resourceExhausted } from '../shared/errors.js';
import type { Rect } from '../shared/quad.js';
import { planMerge } from '../shared/tile-merge.js';
import type { ServiceContext } from './call-context.js';
import { fromOptions, toLine, toTimings } from './convert.js';
import { Slots } from './slots.js';
import type { StreamCall } from './stream-call.js';
import { StreamMemory, mib } from './stream-memory.js';
import { TileAssembly } from './tile-assembly.js';

/**
 * One RecognizeTiles call. Tiles are taken one at a time in arrival order: decoded, checked,
 * pasted into their image's canvas, then read as soon as a slot is free and answered at once; an
 * image's final message merges its tiles' lines, re-reading on the assembled image the lines that
 * tile borders cut. Canvases and decoded tiles are held from the instance's memory budget: while
 * the stream waits for room, or holds its share with reads still to give some back, the next tile
 * is not asked for, so HTTP/2 flow control stops the client. Any malformed tile ends the call with
 * its status; the call ends OK once the client has half-closed and every image has its final message.
 */
export async function recognizeTiles(
  ctx: ServiceContext,
  tiles: AsyncIterable<TileRequest>,
  call: StreamCall<TileResponse>,
): Promise<void> {
  joinConnection(ctx, call);
  const images = new OpenImages(ctx, call);
  call.limitIdle(ctx.limits.maxTileStreamIdleMs, () => images.idleError());
  for await (const tile of tiles) await images.take(tile);
  images.checkNoneIncomplete();
}

/** RecognizeTiles streams open per connection (peer address and port), per server. */
const openStreams = new WeakMap<ServiceContext, Map<string, number>>();

/** Counts the stream against its connection until the call ends; RESOURCE_EXHAUSTED past the limit. */
function joinConnection(ctx: ServiceContext, call: StreamCall<TileResponse>): void {
  const open = openStreams.get(ctx) ?? new Map<string, number>();
  openStreams.set(ctx, open);
  const { peer } = call;
  const already = open.get(peer) ?? 0;
  if (already >= ctx.limits.maxTileStreamsPerConnection) {
    throw resourceExhausted(
      `this connection already has ${already} RecognizeTiles streams open, the server's limit; send several images ` +
        'on one stream, or wait for a stream to end before opening another',
    );
  }
  open.set(peer, already + 1);
  addAbortListener(call.signal, () => {
    const left = (open.get(peer) ?? 1) - 1;
    if (left > 0) open.set(peer, left);
    else open.delete(peer);
  });
}

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

const quoted = (ids: Iterable<string>): string => [...ids].map((id) => `'${id}'`).join(', ');

/** The images one stream has open (declared, final message not yet sent), and what they hold. */
class OpenImages {
  private readonly images = new Map<string, ImageState>();
  private readonly slots: Slots;
  private readonly memory: StreamMemory;
  /** Tile reads (and the merges they end in) accepted and not yet done. */
  private reads = 0;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly call: StreamCall<TileResponse>,
  ) {
    const { limits } = ctx;
    const { budget } = ctx.engine;
    this.slots = new Slots(limits.tileConcurrency);
    this.memory = new StreamMemory(budget, budget.limitBytes * limits.tileStreamMemoryShare, limits.maxTileStreamIdleMs, call.signal);
    // However the call ends, what the stream holds goes back at once, reads still running or not.
    addAbortListener(call.signal, () => this.memory.close());
  }

  /** One message: checked on its header, its memory held, decoded by a worker and pasted, its read started, the stream under its share. */
  async take(tile: TileRequest): Promise<void> {
    const decodeStarted = performance.now();
    if (!tile.imageId) throw invalidArgument(`tile ${tile.tileIndex} has no image_id; name the image each tile belongs to`);
    const state = this.images.get(tile.imageId) ?? this.open(tile, decodeStarted);
    if (!state.canvas) await this.holdCanvas(state);
    const what = `image '${tile.imageId}' tile ${tile.tileIndex}`;
    const named = (err: unknown): never => {
      throw Object.assign(err as Error, { message: `${what}: ${(err as Error).message}` });
    };
    const { engine } = this.ctx;
    // The header alone, before any pixel: a tile that does not fit its image is refused undecoded,
    // and one that does is decoded by a worker into memory already held, as a page is.
    const probe = await probeImage(tile.image, engine.config.decodeLimits).catch(named);
    const rect = { x: tile.x, y: tile.y, width: probe.width, height: probe.height };
    state.assembly.accept({
      index: tile.tileIndex,
      ...rect,
      imageWidth: tile.imageWidth,
      imageHeight: tile.imageHeight,
      tileCount: tile.tileCount,
    });
    // Counted from here: an image whose tiles have all been accepted is finished only once each is pasted and read.
    state.reading++;
    const kept = probe.width * probe.height * 3;
    const held = await this.memory.take(kept, what);
    let image: RawImage;
    try {
      // While it runs, its decode holds what a page's does (sharp's buffers and output, the shared
      // copy), of which the pixels kept are the last copy.
      const decoding = await this.memory.take(engine.decodingBytes(probe) - kept, `${what}'s decode`);
      try {
        image = await engine.decode(tile.image, probe, { priority: this.call.priority, signal: this.call.signal }).catch(named);
      } finally {
        decoding.release();
      }
    } catch (err) {
      held.release();
      throw err;
    }
    await state.assembly.pasteInTurns(rect, image);
    this.reads++;
    const decodeMs = performance.now() - decodeStarted;
    // Reading runs beside the intake of the next tiles; the intake waits for a free slot.
    await this.slots.take();
    this.call.fork(() => this.read(tile, state, image, rect, decodeMs, held));
    // Backpressure: past its share, the stream asks for no further tile until its reads give memory back.
    while (this.memory.full && this.reads > 0 && !this.call.signal.aborted) await this.memory.released();
  }

  /** The client half-closed: an image still missing tiles never gets them. */
  checkNoneIncomplete(): void {
    const incomplete = [...this.images.values()].find((s) => !s.assembly.complete);
    if (incomplete) throw invalidArgument(`stream ended mid-image: ${incomplete.assembly.describeIncomplete()}`);
  }

  idleError(): OcrError {
    const { images } = this;
    const waiting = images.size > 0 ? `while images ${quoted(images.keys())} wait for more tiles` : 'without being half-closed';
    return new OcrError(
      'DEADLINE_EXCEEDED',
      `no message on this RecognizeTiles stream for ${this.ctx.limits.maxTileStreamIdleMs / 1000} s ${waiting}, the server's limit; ` +
        "send each image's tiles without pausing and half-close the stream after the last image",
    );
  }

  private open(tile: TileRequest, at: number): ImageState {
    const { images } = this;
    const { limits } = this.ctx;
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
    // The stream's deadline is enforced by the signal: checked against each read's estimate, it would refuse a long stream's later tiles.
    const options = { ...fromOptions(tile.options, this.call.signal), priority: this.call.priority };
    const state: ImageState = { assembly, options, canvas: null, reading: 0, finishing: false, started: at };
    images.set(tile.imageId, state);
    return state;
  }

  /** Holds the image's canvas bytes before its first tile is decoded into it. */
  private async holdCanvas(state: ImageState): Promise<void> {
    const { assembly } = state;
    const { memory } = this;
    const others = [...this.images.values()].filter((s) => s.canvas);
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
    state.canvas = await memory.take(
      assembly.canvasBytes,
      `image '${assembly.imageId}' (${assembly.imageWidth}x${assembly.imageHeight} canvas)`,
    );
  }

  /** One tile's read, answered at once; the image's last read also merges and answers the image. */
  private async read(
    tile: TileRequest,
    state: ImageState,
    image: RawImage,
    rect: Rect,
    decodeMs: number,
    held: Reservation,
  ): Promise<void> {
    try {
      // Once read, the decoded tile is needed no more: its pixels are in the canvas.
      const result = await this.ctx.engine.recognizeImage(image, state.options).finally(() => held.release());
      const lines = result.lines.map((l) => ({ ...l, box: shift(l.box, tile.x, tile.y) }));
      state.assembly.addResult({ tile: rect, lines });
      if (this.call.signal.aborted) return;
      this.call.write({
        imageId: tile.imageId,
        result: { $case: 'tile', value: { tileIndex: tile.tileIndex, lines: lines.map(toLine) } },
        instanceId: this.ctx.instanceId,
        timings: toTimings({ ...result.timings, decodeMs, totalMs: result.timings.totalMs + decodeMs }),
      });
      state.reading--;
      if (state.assembly.complete && state.reading === 0 && !state.finishing) {
        state.finishing = true;
        await this.finish(tile.imageId, state);
      }
    } finally {
      this.slots.give();
      this.reads--;
    }
  }

  /** The image's final message: its tiles' lines merged, those that tile borders cut re-read on the canvas. */
  private async finish(imageId: string, state: ImageState): Promise<void> {
    const { assembly } = state;
    const { engine } = this.ctx;
    const hole = assembly.uncovered();
    if (hole) {
      throw invalidArgument(
        `image '${imageId}': its ${assembly.tileCount} tiles leave the region x=${hole.x} y=${hole.y} ` +
          `${hole.width}x${hole.height} uncovered; send tiles that cover the whole image`,
      );
    }
    const readStarted = performance.now();
    const plan = planMerge(assembly.imageWidth, assembly.imageHeight, assembly.results, { rowMergeGap: engine.config.rowMergeGap });
    const reread = await engine.recognizeRegions(assembly.canvas(), plan.reread, state.options);
    const lines: OcrLine[] = engine.orderLines([...plan.keep, ...reread], state.options);
    const recognizeMs = performance.now() - readStarted;
    this.ctx.metrics.lines.inc(lines.length);
    this.images.delete(imageId);
    state.canvas?.release();
    this.call.write({
      imageId,
      result: {
        $case: 'image',
        value: { width: assembly.imageWidth, height: assembly.imageHeight, tileCount: assembly.tileCount, lines: lines.map(toLine) },
      },
      instanceId: this.ctx.instanceId,
      timings: toTimings({ ...zeroTimings(), recognizeMs, totalMs: performance.now() - state.started }),
    });
  }
}
