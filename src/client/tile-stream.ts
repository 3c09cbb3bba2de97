/**
 * Large images over RecognizeTiles: each image is cut into overlapping tiles, the tiles are
 * streamed, per-tile answers are passed on as they come and the image's merged lines end it.
 * A TileStream can carry several images on one call, each image's tiles sent together, the next
 * image's after them; recognizeLargeImage is the one-image-per-call convenience.
 */

import { randomUUID } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';

import type { Line, RecognizeOptions, TileLines, TileResponse, Timings } from '../gen/ocr/v1/ocr.js';
import { callSettingsOf, checkCallSettings, type CallSettings } from './call-settings.js';
import { callerCancelled, OcrCallError, toOcrCallError } from './errors.js';
import { checkRecognizeOptions } from './recognize-options.js';
import { checkTileOptions, checkTileSizes } from './tile-options.js';
import type { OcrClient } from './ocr-client.js';
import type { TileCall } from './tile-call.js';
import { TiledImage } from './tiled-image.js';

export interface LargeImageOptions {
  /** Longest side of a tile in pixels; the server limits how many tiles an image may have. */
  tileSize: number;
  /** Pixels shared by neighbouring tiles. Default DEFAULT_TILE_OVERLAP (96). */
  overlap?: number;
  /** Names the image on the stream. Default: a random UUID. */
  imageId?: string;
  options?: RecognizeOptions;
  /** Called with each tile's lines (full-image coordinates) as soon as the server has read it; a throw fails the image with that error. */
  onTile?: (tile: TileLines) => void;
}

export interface LargeImageResult {
  /** Size of the image after EXIF orientation, the frame the boxes are in. */
  width: number;
  height: number;
  /** The whole image's lines in reading order, de-duplicated across tiles. */
  lines: Line[];
  /** How many tiles the image was sent as. */
  tiles: number;
  instanceId: string;
  /** Timings of the final, merging step. */
  timings?: Timings;
}

interface PendingImage {
  onTile?: (tile: TileLines) => void;
  resolve(result: LargeImageResult): void;
  reject(error: Error): void;
}

const METHOD = 'RecognizeTiles';

/** A TileStream used in a way its call or server would refuse, refused here as they would: with `code`. */
const misuse = (code: Status, details: string): OcrCallError => new OcrCallError(code, details, { method: METHOD });

export class TileStream {
  private readonly images = new Map<string, PendingImage>();
  /** Set once the call is over; later images fail with it. */
  private ended: OcrCallError | null = null;
  private halfClosed = false;
  /**
   * Settles once the image being sent has sent its last tile (or failed). The server reads a
   * stream's tiles in turn, so interleaving images gains nothing, while their canvases, all held
   * at once, may pass the stream's share of the server's memory: the stream is then refused, every
   * image on it failed. One after another, the next image waits for the last one's read instead.
   */
  private sending: Promise<void> = Promise.resolve();

  constructor(private readonly call: TileCall) {
    void this.read();
  }

  /**
   * Sends one image as tiles and resolves with its merged lines. Rejects with OcrCallError: the
   * call's failure, or INVALID_ARGUMENT for an unreadable image or a bad tile plan, refused before
   * any tile is sent as the server refuses them.
   */
  async recognize(image: Uint8Array | TiledImage, options: LargeImageOptions): Promise<LargeImageResult> {
    const recognizeOptions = checkRecognizeOptions(checkTileOptions(options, 'TileStream.recognize').options);
    const tiled = image instanceof TiledImage ? image : await TiledImage.decode(image);
    const rects = tiled.tiles(options.tileSize, options.overlap);
    // Its caller's end() first: the call it ended may be over, with no image left for its failure to name.
    if (this.halfClosed) throw misuse(Status.FAILED_PRECONDITION, 'this tile stream was ended; open a new one');
    if (this.ended) throw this.ended;
    const imageId = options.imageId ?? randomUUID();
    if (this.images.has(imageId)) throw misuse(Status.INVALID_ARGUMENT, `image id "${imageId}" is already in flight on this stream`);

    const result = new Promise<LargeImageResult>((resolve, reject) => {
      this.images.set(imageId, { onTile: options.onTile, resolve, reject });
    });
    // The reader may reject it while tiles are still being cut; the caller only awaits it later.
    result.catch(() => undefined);

    const previous = this.sending;
    let sent!: () => void;
    this.sending = new Promise((resolve) => (sent = resolve));
    try {
      await previous;
      for (let index = 0; index < rects.length && this.images.has(imageId); index++) {
        const rect = rects[index]!;
        await this.call.write({
          imageId,
          x: rect.x,
          y: rect.y,
          imageWidth: tiled.width,
          imageHeight: tiled.height,
          tileIndex: index,
          tileCount: rects.length,
          image: await tiled.encodeTile(rect),
          // The server reads options from the first tile only.
          options: index === 0 ? recognizeOptions : undefined,
        });
      }
    } catch (err) {
      // A half-sent image would make the server fail the whole stream later; fail it now instead.
      if (!(err instanceof OcrCallError)) this.call.cancel();
      this.settle(imageId, err instanceof Error ? err : new Error(String(err)));
    } finally {
      sent();
    }
    return result;
  }

  /** No more images: the server answers those in flight, then ends the call. */
  end(): void {
    this.halfClosed = true;
    if (!this.ended) this.call.end();
  }

  /** Cancels the call; images in flight reject with CANCELLED. */
  cancel(): void {
    this.call.cancel();
  }

  private async read(): Promise<void> {
    let failure: OcrCallError;
    try {
      for await (const message of this.call) this.route(message);
      failure = new OcrCallError(Status.INTERNAL, 'the server ended the tile stream before the final message of every image', {
        method: METHOD,
      });
    } catch (err) {
      failure = toOcrCallError(err, METHOD);
    }
    this.ended = failure;
    for (const image of this.images.values()) image.reject(failure);
    this.images.clear();
  }

  private route(message: TileResponse): void {
    const image = this.images.get(message.imageId);
    // An image already failed here (its onTile threw) may still get answers; they have no taker.
    if (!image || !message.result) return;
    if (message.result.$case === 'tile') {
      try {
        image.onTile?.(message.result.value);
      } catch (err) {
        this.settle(message.imageId, err instanceof Error ? err : new Error(String(err)));
      }
      return;
    }
    const merged = message.result.value;
    this.images.delete(message.imageId);
    image.resolve({
      width: merged.width,
      height: merged.height,
      lines: merged.lines,
      tiles: merged.tileCount,
      instanceId: message.instanceId,
      timings: message.timings,
    });
  }

  private settle(imageId: string, error: Error): void {
    this.images.get(imageId)?.reject(error);
    this.images.delete(imageId);
  }
}

export type LargeImageCallOptions = LargeImageOptions & CallSettings;

/**
 * Reads one large image over its own RecognizeTiles call. The image is decoded and the tiles planned
 * before the call opens, so a bad file or tile size costs no call, and the deadline runs from the
 * call's opening (upload and answers), not while the image is decoded. A failure of the image (its
 * onTile threw) cancels the call.
 */
export async function recognizeLargeImage(
  client: Pick<OcrClient, 'recognizeTiles'>,
  image: Uint8Array,
  options: LargeImageCallOptions,
): Promise<LargeImageResult> {
  const { signal } = checkTileOptions(options, 'recognizeLargeImage');
  // Decoding a large image takes a while: a caller that has given up is told so first.
  if (signal?.aborted) throw callerCancelled(METHOD, signal);
  checkRecognizeOptions(options.options);
  checkCallSettings(options);
  checkTileSizes(options.tileSize, options.overlap);
  const tiled = await TiledImage.decode(image);
  const stream = new TileStream(client.recognizeTiles(callSettingsOf(options)));
  try {
    const result = await stream.recognize(tiled, options);
    stream.end();
    return result;
  } catch (err) {
    // The call's one image failed (its onTile threw, a tile could not be cut): half-closed, the
    // instance would read and merge it all the same, and the call hold the caller's process open.
    stream.cancel();
    throw err;
  }
}
