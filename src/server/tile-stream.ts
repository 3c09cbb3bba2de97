import { addAbortListener } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ONE_LINE_MAX_HEIGHT,
  probeImage,
  SharpInput,
  zeroTimings,
  type OcrLine,
  type Quad,
  type RawImage,
  type RecognizeOptions,
  type Reservation,
} from '../engine/index.js';
import type { TileRequest, TileResponse } from '../gen/ocr/v1/ocr.js';
import { OcrError, invalidArgument, isLoadRefusal, resourceExhausted } from '../shared/errors.js';
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

/**
 * The longest image_id taken, in UTF-8 bytes. Each message about an image quotes its id, several
 * ids some: one of 100 KB made a status whose trailers the client's HTTP/2 refused, and the SDK
 * reported the connection lost instead of what was wrong.
 */
export const MAX_IMAGE_ID_BYTES = 256;

function checkImageIdLength(tile: TileRequest): void {
  const bytes = Buffer.byteLength(tile.imageId);
  if (bytes <= MAX_IMAGE_ID_BYTES) return;
  throw invalidArgument(
    `tile ${tile.tileIndex} has an image_id of ${bytes} bytes ('${tile.imageId.slice(0, 32)}…'), past the server's limit of ` +
      `${MAX_IMAGE_ID_BYTES}; name each image with a short id (a counter, a UUID)`,
  );
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
  /** The options as the image's first tile to arrive set them, which later tiles may repeat or leave out. */
  declared: { firstIndex: number; text: string };
  /** The canvas's share of the memory budget, held from the image's first paste to its final message. */
  canvas: Reservation | null;
  /** Tiles accepted and still being read. */
  reading: number;
  finishing: boolean;
  started: number;
}

/** The options a tile sets, as a caller wrote them: `{min_confidence: 0.5}`; '' for none. */
function describeOptions(options: TileRequest['options']): string {
  const set = Object.entries(options ?? {}).filter(([, value]) => value !== undefined);
  if (set.length === 0) return '';
  const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  // Floats travel as 32 bits: 0.99 arrives as 0.9900000095367432, and is shown as sent.
  const shown = (value: unknown): string =>
    typeof value === 'number' && !Number.isInteger(value) ? String(Number(value.toPrecision(7))) : String(value);
  return `{${set.map(([name, value]) => `${snake(name)}: ${shown(value)}`).join(', ')}}`;
}

/**
 * An image is read with the options of the first of its tiles to arrive; a later tile may repeat
 * them or set none, but not set others, which would be ignored without a word.
 */
function checkSameOptions(state: ImageState, tile: TileRequest, what: string): void {
  const text = describeOptions(tile.options);
  const { firstIndex, text: declared } = state.declared;
  if (text === '' || text === declared) return;
  throw invalidArgument(
    `${what} sets options ${text}, but the image's first tile (tile ${firstIndex}) set ` +
      `${declared === '' ? "none, so the image is read with the server's defaults" : declared}; an image is read with ` +
      'the options of the first of its tiles to arrive: send them on the first tile of the image to arrive, and on the others the same or none',
  );
}

const shift = (quad: Quad, dx: number, dy: number): Quad => quad.map(([x, y]) => [x + dx, y + dy]) as Quad;

const quoted = (ids: Iterable<string>): string => [...ids].map((id) => `'${id}'`).join(', ');

const canvasWhat = (assembly: TileAssembly): string =>
  `image '${assembly.imageId}' (${assembly.imageWidth}x${assembly.imageHeight} canvas)`;

/** MiB with a decimal below 100, so that sizes compared in one message do not round to the same figure. */
const mibs = (bytes: number): string => {
  const m = bytes / 1024 / 1024;
  return m < 100 ? m.toFixed(1) : m.toFixed(0);
};

/** The images one stream has open (declared, final message not yet sent), and what they hold. */
class OpenImages {
  private readonly images = new Map<string, ImageState>();
  private readonly slots: Slots;
  private readonly memory: StreamMemory;
  /** Tile reads (and the merges they end in) accepted and not yet done. */
  private reads = 0;
  /** The intake, waiting for a read to end (backpressure). */
  private readEndWaiters: (() => void)[] = [];
  /** Images opened on the stream so far. */
  private opened = 0;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly call: StreamCall<TileResponse>,
  ) {
    const { limits } = ctx;
    const { budget, admission } = ctx.engine;
    const priority = call.priority ?? 'interactive';
    this.slots = new Slots(limits.tileConcurrency);
    this.memory = new StreamMemory(
      budget,
      budget.limitBytes * limits.tileStreamMemoryShare,
      limits.maxTileStreamIdleMs,
      call.signal,
      () => admission.estimatedWaitMs(priority),
      (fileBytes, wait) => admission.waitHoldingFiles(fileBytes, priority, wait),
    );
    // However the call ends, what the stream holds goes back at once, reads still running or not.
    addAbortListener(call.signal, () => this.memory.close());
  }

  /** One message: checked on its header, its memory held, decoded by a worker and pasted, its read started, the stream under its share. */
  async take(tile: TileRequest): Promise<void> {
    const decodeStarted = performance.now();
    if (!tile.imageId) throw invalidArgument(`tile ${tile.tileIndex} has no image_id; name the image each tile belongs to`);
    checkImageIdLength(tile);
    const what = `image '${tile.imageId}' tile ${tile.tileIndex}`;
    const open = this.images.get(tile.imageId);
    if (open) checkSameOptions(open, tile, what);
    else {
      // Before the quota counts it: an image refused for the images open did no work.
      this.checkRoomForImage(tile);
      if (this.opened++ > 0) await this.chargeImage();
    }
    const state = open ?? this.open(tile, what, decodeStarted);
    const named = (err: unknown): never => {
      throw Object.assign(err as Error, { message: `${what}: ${(err as Error).message}` });
    };
    const { engine } = this.ctx;
    // The header alone, before any pixel or memory: a tile that does not fit its image, or could
    // never fit the budget beside what its stream must hold, is refused undecoded; one that does is
    // decoded by a worker into memory already held, as a page is.
    // Read as one input, header and pixels: a PNG's text is dropped once (SharpInput).
    const input = new SharpInput(tile.image);
    const probe = await probeImage(input, engine.config.decodeLimits).catch(named);
    const rect = { x: tile.x, y: tile.y, width: probe.width, height: probe.height };
    state.assembly.accept({
      index: tile.tileIndex,
      ...rect,
      imageWidth: tile.imageWidth,
      imageHeight: tile.imageHeight,
      tileCount: tile.tileCount,
    });
    if (!state.canvas) this.checkCanvas(state);
    this.checkTileFits(state, what, probe, engine.inputDecodingBytes(input, probe));
    if (!state.canvas) await this.holdCanvas(state, input.heldBytes);
    // Counted from here: an image whose tiles have all been accepted is finished only once each is pasted and read.
    state.reading++;
    const kept = probe.width * probe.height * 3;
    const held = await this.memory.take(kept, what, input.heldBytes);
    let image: RawImage;
    try {
      // While it runs, its decode holds what a page's does (sharp's buffers and output, the shared
      // copy, or its file and copies where they outweigh those), of which the pixels kept are the last copy.
      const decoding = await this.memory.take(engine.inputDecodingBytes(input, probe) - kept, `${what}'s decode`, input.heldBytes);
      try {
        image = await engine.decode(input, probe, { priority: this.call.priority, signal: this.call.signal }).catch(named);
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
    // Its place, not the tile: the message, its file among it, is not kept while the tile is read.
    const placed = { imageId: tile.imageId, tileIndex: tile.tileIndex, x: tile.x, y: tile.y };
    this.call.fork(() => this.read(placed, state, image, rect, decodeMs, held));
    // Backpressure: past its share, the stream asks for no further tile until its reads give memory
    // back, or none is left to (its canvases alone may fill its share: an image over 45 Mpx on the
    // default budget).
    await this.waitWhile(() => this.memory.full);
  }

  /**
   * Counts an image after the stream's first against the caller's quota, as a call of its own: the
   * stream's admission counted one call, and a stream of any number of images would be one call's
   * worth. Over the quota, the image waits for room, its stream not read meanwhile (HTTP/2 flow
   * control slows the client), so that a stream of many images runs at the caller's rate. It waits
   * at most the stream's idle limit, which the wait escapes (the stream is not waiting for a
   * message): longer, the stream's open images would keep their canvases in the server's memory
   * for as long as the caller's window (up to 24 days), so the image is refused as a call over its
   * quota is, with the wait as its retry hint.
   */
  private async chargeImage(): Promise<void> {
    const { charges, signal } = this.call;
    if (!charges) return;
    const waitEnds = performance.now() + this.ctx.limits.maxTileStreamIdleMs;
    for (;;) {
      try {
        return await charges.another();
      } catch (err) {
        if (!isLoadRefusal(err)) throw err;
        const waitMs = (err as OcrError).retryAfterMs!;
        if (performance.now() + waitMs > waitEnds) throw err;
        await delay(waitMs, undefined, { signal });
      }
    }
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

  /** RESOURCE_EXHAUSTED where a new image would be one more open on this stream than the server's limit. */
  private checkRoomForImage(tile: TileRequest): void {
    const { images } = this;
    const { maxImagesPerStream } = this.ctx.limits;
    if (images.size < maxImagesPerStream) return;
    throw resourceExhausted(
      `image '${tile.imageId}' would be image ${images.size + 1} open on this stream, past the server's limit of ` +
        `${maxImagesPerStream} (${quoted(images.keys())} are still open); wait for an image's final message ` +
        'before starting another, or use another stream',
    );
  }

  private open(tile: TileRequest, what: string, at: number): ImageState {
    const { images } = this;
    const { limits } = this.ctx;
    const assembly = new TileAssembly(
      { imageId: tile.imageId, imageWidth: tile.imageWidth, imageHeight: tile.imageHeight, tileCount: tile.tileCount },
      { maxPixels: limits.maxTiledPixels, maxTiles: limits.maxTilesPerImage },
    );
    // The stream's deadline is enforced by the signal: checked against each read's estimate, it would refuse a long stream's later tiles.
    let options: RecognizeOptions;
    try {
      options = { ...fromOptions(tile.options, this.call.signal), priority: this.call.priority };
    } catch (err) {
      throw Object.assign(err as Error, { message: `${what}: ${(err as Error).message}` });
    }
    const declared = { firstIndex: tile.tileIndex, text: describeOptions(tile.options) };
    const state: ImageState = { assembly, options, declared, canvas: null, reading: 0, finishing: false, started: at };
    images.set(tile.imageId, state);
    return state;
  }

  /**
   * Refuses an image whose canvas could never be held: larger than the whole budget, or past the
   * stream's share beside the canvases of its other images still missing tiles.
   */
  private checkCanvas(state: ImageState): void {
    const { assembly } = state;
    const { memory } = this;
    const limit = this.ctx.engine.budget.limitBytes;
    if (assembly.canvasBytes > limit) {
      // Options do not shrink a canvas, and the image is already in tiles: only fewer pixels help.
      throw resourceExhausted(
        `${canvasWhat(assembly)} needs about ${mib(assembly.canvasBytes)} MiB of memory, more than this server's whole ` +
          `budget of ${mib(limit)} MiB (--memory-budget-mb); no retry can fit it: downscale the image or split it into ` +
          'separate images, or use a server with a larger --memory-budget-mb',
      );
    }
    // Only a stream that already holds canvases of images still missing tiles is refused past its
    // share: one image alone may take up to the whole budget, and the canvases of images whose tiles
    // are all in are given back once read, which the stream waits for (holdCanvas).
    const { others, othersBytes } = this.pinnedBytes(state);
    if (others.length > 0 && othersBytes + assembly.canvasBytes > memory.shareBytes) {
      throw resourceExhausted(
        `image '${assembly.imageId}' (${assembly.imageWidth}x${assembly.imageHeight}) would put the canvases of this stream's ` +
          `open images at ${mib(othersBytes + assembly.canvasBytes)} MiB, past its ${mib(memory.shareBytes)} MiB share of ` +
          `the server's memory (images ${quoted(others.map((s) => s.assembly.imageId))} still miss tiles); send an image's ` +
          'tiles together before starting the next, or send this image on another stream',
      );
    }
  }

  /**
   * What the stream holds, whatever else gives memory back, while it works on `state`: its canvas,
   * and the canvases of its other images still missing tiles (the stream cannot finish them while
   * it waits on this one). Canvases of images whose tiles are all in are given back once read.
   */
  private pinnedBytes(state: ImageState): { bytes: number; others: ImageState[]; othersBytes: number } {
    const others = [...this.images.values()].filter((s) => s !== state && s.canvas && !s.assembly.complete);
    const othersBytes = others.reduce((sum, s) => sum + s.assembly.canvasBytes, 0);
    return { bytes: state.assembly.canvasBytes + othersBytes, others, othersBytes };
  }

  /**
   * Refuses at once a tile that could never be decoded and read within the whole budget beside the
   * canvases its stream must hold meanwhile: its image's, and those of its other images still
   * missing tiles, which the stream cannot finish while it waits on this tile. Waiting for room
   * would last until the stream's limit and end in advice to retry that no retry could follow.
   */
  private checkTileFits(state: ImageState, what: string, probe: { width: number; height: number }, decodingBytes: number): void {
    const { engine } = this.ctx;
    const limit = engine.budget.limitBytes;
    const { others, othersBytes } = this.pinnedBytes(state);
    const canvasBytes = state.assembly.canvasBytes;
    const need = this.tileNeed(probe.width, probe.height, state.options, decodingBytes);
    if (canvasBytes + othersBytes + need.bytes <= limit) return;
    const { assembly } = state;
    const beside =
      `its image's ${assembly.imageWidth}x${assembly.imageHeight} canvas (${mibs(canvasBytes)} MiB)` +
      (others.length > 0
        ? ` and the canvases of images ${quoted(others.map((s) => s.assembly.imageId))} (${mibs(othersBytes)} MiB), ` +
          'still missing tiles on this stream'
        : '');
    const room = limit - canvasBytes - othersBytes;
    const side = this.largestTileSide(room, Math.max(probe.width, probe.height) - 1, assembly, state.options);
    const advice =
      side > 0
        ? `send tiles of at most ${side} px a side (the SDK's tileSize)` +
          (others.length > 0 ? ", or send each image's tiles before the next image's" : '')
        : others.length > 0
          ? `no tile of ${this.leastTileSide} px a side or more (in at most ${this.ctx.limits.maxTilesPerImage} tiles) fits beside ` +
            "those canvases: send each image's tiles before the next image's, or this image on another stream"
          : `no tile of ${this.leastTileSide} px a side or more (in at most ${this.ctx.limits.maxTilesPerImage} tiles) fits beside ` +
            'that canvas: downscale the image or split it into separate images';
    throw resourceExhausted(
      `${what} (${probe.width}x${probe.height}) needs about ${mibs(need.bytes)} MiB ${need.decode ? 'to decode' : 'to be read'} ` +
        `beside ${beside}, more than this server's whole memory budget of ${mib(limit)} MiB (--memory-budget-mb) holds ` +
        `at once, so no retry can fit it; ${advice}, or use a server with a larger --memory-budget-mb`,
    );
  }

  /**
   * What one tile holds of the budget at its peak: while it is decoded, what a page's decode holds
   * (its kept pixels the last copy; `decoding`, where its file is known); while it is read, its
   * pixels and its read's detector input.
   */
  private tileNeed(
    width: number,
    height: number,
    options: RecognizeOptions,
    decoding = this.ctx.engine.decodingBytes({ width, height }),
  ): { bytes: number; decode: boolean } {
    const { engine } = this.ctx;
    const reading = width * height * 3 + engine.readingBytes(width, height, options);
    return { bytes: Math.max(decoding, reading), decode: decoding >= reading };
  }

  /**
   * The largest side, at most `upTo`, of a square tile whose decode and read fit in `room` bytes,
   * and of which at most the server's limit of tiles would cover the image; 0 where none does.
   * Tiles under ONE_LINE_MAX_HEIGHT are not counted: the detector reads them as lines, unscaled,
   * so they cost little, but find no text a page's detector would. Scanned rather than bisected:
   * what a tile needs does not always grow with its side (a minSideLen above maxSideLen scales
   * smaller tiles up further than larger ones), and a few thousand sides are soon tried.
   */
  private largestTileSide(room: number, upTo: number, assembly: TileAssembly, options: RecognizeOptions): number {
    const least = this.leastTileSide;
    const { maxTilesPerImage } = this.ctx.limits;
    for (let side = upTo; side >= least; side--) {
      const tiles = Math.ceil(assembly.imageWidth / side) * Math.ceil(assembly.imageHeight / side);
      if (tiles > maxTilesPerImage) return 0;
      if (this.tileNeed(side, side, options).bytes <= room) return side;
    }
    return 0;
  }

  private get leastTileSide(): number {
    return Math.max(ONE_LINE_MAX_HEIGHT, this.ctx.engine.config.decodeLimits.minSide);
  }

  /**
   * Holds the image's canvas bytes before its first tile is decoded into it; past the stream's share
   * beside the canvases of images whose tiles are all in, once those have been read and given back.
   * `fileBytes`: what the stream holds of the tile's file while it waits for room.
   */
  private async holdCanvas(state: ImageState, fileBytes: number): Promise<void> {
    const { canvasBytes } = state.assembly;
    const finishing = (): ImageState[] => [...this.images.values()].filter((s) => s.canvas && s.assembly.complete);
    const held = (): number => [...this.images.values()].reduce((sum, s) => sum + (s.canvas?.bytes ?? 0), 0);
    await this.waitWhile(() => finishing().length > 0 && held() + canvasBytes > this.memory.shareBytes);
    state.canvas = await this.memory.take(canvasBytes, canvasWhat(state.assembly), fileBytes);
  }

  /**
   * Waits while `busy` holds and a read is still to end, re-checked each time the stream gives
   * memory back or a read ends. Both: a read gives its tile back before it ends, and an image's
   * last read its canvas, so a stream waiting on memory alone, still past its share once given
   * back, was never woken again.
   */
  private async waitWhile(busy: () => boolean): Promise<void> {
    while (busy() && this.reads > 0 && !this.call.signal.aborted) {
      await Promise.race([this.memory.released(), new Promise<void>((resolve) => this.readEndWaiters.push(resolve))]);
    }
  }

  /** One tile's read, answered at once; the image's last read also merges and answers the image. */
  private async read(
    tile: Pick<TileRequest, 'imageId' | 'tileIndex' | 'x' | 'y'>,
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
      const waiters = this.readEndWaiters;
      this.readEndWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /**
   * The lines that tile borders cut, re-read on the canvas a part at a time: each part as many lines
   * as fit in the budget beside the canvases the stream holds meanwhile. All at once, beside a large
   * canvas, they waited for room that never came, until the caller's deadline or for ever.
   */
  private async rereadCut(imageId: string, state: ImageState, quads: Quad[]): Promise<OcrLine[]> {
    const { engine } = this.ctx;
    const canvas = state.assembly.canvas();
    const lines: OcrLine[] = [];
    for (let at = 0; at < quads.length;) {
      const room = engine.budget.limitBytes - this.pinnedBytes(state).bytes;
      const count = Math.min(quads.length - at, Math.floor(room / engine.regionsBytes(1)));
      if (count < 1) {
        throw resourceExhausted(
          `image '${imageId}': re-reading the lines its tile borders cut needs about ${mibs(engine.regionsBytes(1))} MiB a line ` +
            `beside the canvases this stream holds (${mibs(this.pinnedBytes(state).bytes)} MiB), more than this server's whole ` +
            `memory budget of ${mib(engine.budget.limitBytes)} MiB (--memory-budget-mb) holds at once, so no retry can fit it; ` +
            "downscale the image, send each image's tiles before the next image's, or use a server with a larger --memory-budget-mb",
        );
      }
      lines.push(...(await engine.recognizeRegions(canvas, quads.slice(at, at + count), state.options)));
      at += count;
    }
    return lines;
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
    const reread = await this.rereadCut(imageId, state, plan.reread);
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
