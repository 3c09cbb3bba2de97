/**
 * A large image read tile by tile over several streams at once, so its tiles spread over several
 * instances (the balancer gives each new stream the least busy instance, or the next in turn), and
 * resumed when an instance dies: only the tiles not yet answered are sent again, on a fresh stream.
 * Each tile travels as an image of its own; the merge, and the re-reading of lines cut by tile
 * borders (RecognizeLines on upright crops), happen here, on any instance.
 */
import type { Line, LineResult, RecognizeOptions, TileRequest } from '../gen/ocr/v1/ocr.js';
import type { Quad, Rect } from '../shared/quad.js';
import { DEFAULT_MIN_CONFIDENCE, selectLines } from '../shared/reading-order.js';
import { DEFAULT_ROW_MERGE_GAP } from '../shared/row-merge.js';
import { planMerge, type TileLine } from '../shared/tile-merge.js';
import { abortableDelay } from './abort-listeners.js';
import { callSettingsOf, checkCallSettings, checkDeadlineMs, type CallSettings } from './call-settings.js';
import { callerCancelled, OcrCallError, toOcrCallError } from './errors.js';
import { checkRecognizeOptions } from './recognize-options.js';
import { checkTileOptions, checkTileSizes } from './tile-options.js';
import { overloadPushbackMs } from './retry-pushback.js';
import type { OcrClient } from './ocr-client.js';
import type { TileCall } from './tile-call.js';
import { TiledImage } from './tiled-image.js';

export interface SpreadOptions extends CallSettings {
  tileSize: number;
  overlap?: number;
  /** Streams open at once, each on the instance the balancer gives it. Default 2. */
  streams?: number;
  /**
   * Rounds of re-sending unanswered tiles after streams lost to an instance (it died, drained, reset
   * the stream or refused it for load); a failure any instance would give again ends the call. Default 3.
   * A round after refusals for load waits for the soonest of their hints (grpc-retry-pushback-ms); one
   * that would outlast the deadline ends the call with the refusal. The deadline (deadlineMs) covers
   * the whole image: every round, its waits and the re-read of cut lines.
   */
  maxRounds?: number;
  /** As for Recognize; min_confidence applies to the lines re-read across tile borders too. */
  options?: RecognizeOptions;
  /** Called with each tile's lines (full-image coordinates) as it is answered; a throw fails the call with that error and cancels its streams. */
  onTile?: (tileIndex: number, lines: Line[]) => void;
}

export interface SpreadResult {
  width: number;
  height: number;
  lines: Line[];
  tiles: number;
  /** The instances that read at least one tile. */
  instances: string[];
  /** Streams that failed and whose unanswered tiles went elsewhere. */
  failedStreams: number;
}

const toQuad = (line: Line): Quad => line.box.map((p) => [p.x, p.y]) as Quad;
const toWire = (quad: Quad): Line['box'] => quad.map(([x, y]) => ({ x, y }));

/**
 * Whether tiles whose stream failed with `error` may be read by sending them again on a new stream,
 * which the balancer may give another instance: the instance died, drained or reset the stream
 * (UNAVAILABLE, INTERNAL, UNKNOWN, a CANCELLED the caller did not ask for), or refused it for load
 * with a hint. Any other failure every instance would give again (a bad option or tile, a token, an
 * image too large), or the caller asked for it (its signal, its deadline): sending again would only
 * repeat the upload.
 */
function resumable(error: OcrCallError, signal: AbortSignal | undefined): boolean {
  switch (error.code) {
    case 'UNAVAILABLE':
    case 'INTERNAL':
    case 'UNKNOWN':
      return true;
    case 'CANCELLED':
      return !signal?.aborted;
    case 'RESOURCE_EXHAUSTED':
      return overloadPushbackMs(error.status, error.metadata) !== null;
    default:
      return false;
  }
}

/** Lines a RecognizeLines call of the re-read carries at most, below any server's own limit: calls spread over instances. */
const MAX_LINES_A_CALL = 64;

/**
 * Consecutive runs of `crops`, each at most `maxLines` (and MAX_LINES_A_CALL) long and, where
 * `maxBytes` is known, at most half of it in bytes (the message carries more than the images).
 */
function lineBatches(crops: Uint8Array[], maxLines: number, maxBytes: number): { start: number; end: number }[] {
  const lines = Math.max(1, Math.min(maxLines, MAX_LINES_A_CALL));
  const bytes = maxBytes > 0 ? maxBytes / 2 : Infinity;
  const batches: { start: number; end: number }[] = [];
  for (let start = 0; start < crops.length;) {
    let end = start + 1;
    let size = crops[start]!.length;
    while (end < crops.length && end - start < lines && size + crops[end]!.length <= bytes) size += crops[end++]!.length;
    batches.push({ start, end });
    start = end;
  }
  return batches;
}

/** `value`, or a RangeError: a whole number ≥ `min`. */
function wholeAtLeast(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} must be a whole number ≥ ${min}, got ${value}`);
  return value;
}

export async function recognizeLargeImageSpread(client: OcrClient, image: Uint8Array, opts: SpreadOptions): Promise<SpreadResult> {
  // Checked before the image is decoded: a fraction of a stream would drop tiles, a bad count or
  // deadline would end the call as tiles unanswered or DEADLINE_EXCEEDED, not as the caller's
  // mistake, and any bad setting would be found only once the image is decoded.
  const streams = wholeAtLeast('streams', checkTileOptions(opts, 'recognizeLargeImageSpread').streams ?? 2, 1);
  const maxRounds = wholeAtLeast('maxRounds', opts.maxRounds ?? 3, 0);
  const options = checkRecognizeOptions(opts.options);
  // One deadline for the whole image, its rounds of resent tiles and its re-read included.
  const deadline = Date.now() + checkDeadlineMs(opts.deadlineMs ?? client.deadlineMs);
  const settings = (): CallSettings => ({ ...callSettingsOf(opts), deadlineMs: Math.max(1, deadline - Date.now()) });
  checkCallSettings(opts);
  // Decoding and cutting a large image take a while: a caller that has given up is told so first.
  if (opts.signal?.aborted) throw callerCancelled('RecognizeTiles', opts.signal);
  checkTileSizes(opts.tileSize, opts.overlap);
  const tiled = await TiledImage.decode(image);
  const rects = tiled.tiles(opts.tileSize, opts.overlap);
  // Each tile is cut as its stream comes to it, once for every round: a caller that aborts stops the
  // cutting with its streams, and the first tiles go while the others are still being cut.
  const encoded = new Map<number, Promise<Buffer>>();
  const encodedTile = (index: number): Promise<Buffer> => {
    let tile = encoded.get(index);
    if (!tile) encoded.set(index, (tile = tiled.encodeTile(rects[index]!)));
    return tile;
  };
  const answered = new Map<number, TileLine[]>();
  const instances = new Set<string>();
  let failedStreams = 0;
  let lastError: OcrCallError | null = null;
  /** When the soonest of the round's instances that refused a stream for load expects room; Infinity for none. */
  let retryAt = Infinity;
  /**
   * A failure that sending the tiles again cannot cure, or the caller's onTile's throw: the call
   * fails with it, and no stream sends another tile or passes on another answer.
   */
  let final: Error | null = null;
  /**
   * The streams open now. The caller's onTile's throw cancels them all: none waits on answers nobody
   * will take. (A failure any instance would give again comes to every stream soon on its own.)
   */
  const open = new Set<TileCall>();
  const fail = (err: Error): void => {
    final ??= err;
    for (const call of open) call.cancel();
  };

  /** One stream carrying some tiles, each as a one-tile image; collects every tile it answers. */
  const stream = async (tiles: number[]): Promise<void> => {
    const call = client.recognizeTiles(settings());
    open.add(call);
    const reading = (async () => {
      for await (const message of call) {
        if (message.result?.$case !== 'image' || final) continue;
        const index = Number(message.imageId);
        const rect = rects[index]!;
        const lines = message.result.value.lines.map((l) => ({
          text: l.text,
          confidence: l.confidence,
          box: toQuad(l).map(([x, y]) => [x + rect.x, y + rect.y]) as Quad,
        }));
        try {
          opts.onTile?.(
            index,
            lines.map((l) => ({ ...l, box: toWire(l.box) })),
          );
        } catch (err) {
          // The caller's own failure, passed on as recognizeLargeImage does: no instance was lost, so no tile is resent.
          fail(err instanceof Error ? err : new Error(String(err)));
          throw err;
        }
        // Counted once onTile has taken it: a tile whose onTile threw leaves the image unanswered, failed with `final`.
        answered.set(index, lines);
        instances.add(message.instanceId);
      }
    })();
    // Its failure is the stream's and is taken below; it may come while a tile is still being cut or
    // sent, before anything awaits it, and must not surface as an unhandled rejection meanwhile.
    reading.catch(() => undefined);
    try {
      for (const index of tiles) {
        if (final) break;
        const r: Rect = rects[index]!;
        const tile: TileRequest = {
          imageId: String(index),
          x: 0,
          y: 0,
          imageWidth: r.width,
          imageHeight: r.height,
          tileIndex: 0,
          tileCount: 1,
          image: await encodedTile(index),
          options,
        };
        await call.write(tile);
      }
      call.end();
      await reading;
    } catch (err) {
      failedStreams++;
      lastError = toOcrCallError(err, 'RecognizeTiles');
      if (!resumable(lastError, opts.signal)) final ??= lastError;
      const hintMs = overloadPushbackMs(lastError.status, lastError.metadata);
      if (hintMs !== null) retryAt = Math.min(retryAt, Date.now() + hintMs);
      call.cancel();
      await reading.catch(() => undefined);
    } finally {
      open.delete(call);
    }
  };

  for (let round = 0; round <= maxRounds && answered.size < rects.length && !final; round++) {
    if (retryAt !== Infinity) {
      // Streams refused for load: the next round waits for the soonest hint, as a refused Recognize
      // does; sent at once, it met the same refusal, and a busy cluster spent every round in
      // milliseconds. A hint that outlasts the deadline ends the call with the refusal.
      if (retryAt >= deadline) break;
      // Its client's close ends it too: the next round's streams then fail as the client is closed.
      await abortableDelay(retryAt - Date.now(), [opts.signal, client.closeSignal]);
      retryAt = Infinity;
    }
    const todo = rects.map((_, i) => i).filter((i) => !answered.has(i));
    const lanes = Array.from({ length: Math.min(streams, todo.length) }, (_, k) => todo.filter((_, j) => j % streams === k));
    await Promise.all(lanes.map(stream));
  }
  if (answered.size < rects.length) {
    throw (
      final ?? lastError ?? new OcrCallError(14, `${rects.length - answered.size} tiles were not answered`, { method: 'RecognizeTiles' })
    );
  }

  const plan = planMerge(
    tiled.width,
    tiled.height,
    rects.map((tile, i) => ({ tile, lines: answered.get(i)! })),
    { rowMergeGap: DEFAULT_ROW_MERGE_GAP },
  );
  const reread: TileLine[] = [];
  if (plan.reread.length > 0) {
    const crops = await Promise.all(plan.reread.map((q) => tiled.encodeUpright(q)));
    // In calls the server takes, `streams` at a time, each on the instance the balancer gives it: in
    // one, a dense image's cut lines past the server's lines a request (256) lost the whole image.
    const { limits } = await client.getServerInfo(settings());
    const batches = lineBatches(crops, limits?.maxLinesPerRequest || MAX_LINES_A_CALL, limits?.maxMessageBytes || 0);
    const answers = new Array<LineResult | undefined>(crops.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let b = next++; b < batches.length; b = next++) {
        const { start, end } = batches[b]!;
        const response = await client.recognizeLines(crops.slice(start, end), options, settings());
        response.results.forEach((r, i) => (answers[start + i] = r));
      }
    };
    await Promise.all(Array.from({ length: Math.min(streams, batches.length) }, lane));
    answers.forEach((r, i) => {
      if (r && !r.error) reread.push({ text: r.text, confidence: r.confidence, box: plan.reread[i]! });
    });
  }
  const lines = selectLines([...plan.keep, ...reread], options?.minConfidence ?? DEFAULT_MIN_CONFIDENCE).map((l) => ({
    text: l.text,
    confidence: l.confidence,
    box: toWire(l.box),
  }));
  return { width: tiled.width, height: tiled.height, lines, tiles: rects.length, instances: [...instances], failedStreams };
}
