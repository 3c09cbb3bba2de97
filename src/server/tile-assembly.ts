/**
 * The server's state for one image arriving as a stream of tiles: which tiles came, whether they
 * agree with each other and cover the image, the full-image canvas they are pasted into, and the
 * per-tile readings to merge once the last tile is in. No gRPC here.
 */

import { setImmediate as nextTurn } from 'node:timers/promises';
import type { RawImage } from '../engine/index.js';
import { OcrError, invalidArgument, resourceExhausted } from '../shared/errors.js';
import type { Rect } from '../shared/quad.js';
import type { TileResult } from '../shared/tile-merge.js';

/**
 * Canvas bytes pasted in one turn of the event loop: a 40-megapixel tile pasted at once into a
 * canvas not yet touched held the main thread 0.4 s (its pages are faulted in as they are written).
 */
const PASTE_SLICE_BYTES = 4 << 20;

export interface TileAssemblyInit {
  imageId: string;
  imageWidth: number;
  imageHeight: number;
  tileCount: number;
}

export interface TileAssemblyLimits {
  /** Largest imageWidth × imageHeight accepted; bounds the canvas (3 bytes a pixel). */
  maxPixels: number;
  maxTiles: number;
}

/** What a tile message declares about itself and its image. */
export interface TileHeader {
  index: number;
  x: number;
  y: number;
  width: number;
  height: number;
  imageWidth: number;
  imageHeight: number;
  tileCount: number;
}

export interface RgbCanvas extends RawImage {
  channels: 3;
}

/** Missing indices listed in full in an error message; the rest are counted. */
const MAX_LISTED_MISSING = 20;

export class TileAssembly {
  readonly imageId: string;
  readonly imageWidth: number;
  readonly imageHeight: number;
  readonly tileCount: number;
  /** Per-tile readings in arrival order, boxes in full-image coordinates. */
  readonly results: TileResult[] = [];

  private readonly tiles = new Map<number, Rect>();
  private pixels: Uint8Array | null = null;

  /**
   * Takes the image as declared by its first tile. Throws INVALID_ARGUMENT for a malformed
   * declaration and RESOURCE_EXHAUSTED past the limits, before anything is allocated.
   */
  constructor(init: TileAssemblyInit, limits: TileAssemblyLimits) {
    const { imageId, imageWidth, imageHeight, tileCount } = init;
    const id = quoteId(imageId);
    if (!isPositiveInteger(imageWidth) || !isPositiveInteger(imageHeight)) {
      throw invalidArgument(
        `image ${id} declares size ${imageWidth}x${imageHeight}; image_width and image_height must be positive whole numbers`,
      );
    }
    if (!isPositiveInteger(tileCount)) {
      throw invalidArgument(`image ${id} declares tile_count ${tileCount}; it must be a whole number ≥ 1`);
    }
    if (imageWidth * imageHeight > limits.maxPixels) {
      throw resourceExhausted(
        `image ${id} is ${imageWidth}x${imageHeight} = ${imageWidth * imageHeight} pixels, more than the ` +
          `server's limit of ${limits.maxPixels}; downscale the image or split it into separate images`,
      );
    }
    if (tileCount > limits.maxTiles) {
      throw resourceExhausted(
        `image ${id} declares ${tileCount} tiles, more than the server's limit of ${limits.maxTiles}; use larger tiles`,
      );
    }
    this.imageId = imageId;
    this.imageWidth = imageWidth;
    this.imageHeight = imageHeight;
    this.tileCount = tileCount;
  }

  get receivedCount(): number {
    return this.tiles.size;
  }

  get complete(): boolean {
    return this.tiles.size === this.tileCount;
  }

  /** What the canvas will take once the first tile is pasted. */
  get canvasBytes(): number {
    return this.imageWidth * this.imageHeight * 3;
  }

  /** Checks a tile's header against the image and the tiles before it, and records it. */
  accept(tile: TileHeader): void {
    const where = `image ${quoteId(this.imageId)} tile ${tile.index}`;
    if (tile.imageWidth !== this.imageWidth || tile.imageHeight !== this.imageHeight) {
      throw invalidArgument(
        `${where} declares image size ${tile.imageWidth}x${tile.imageHeight} but the image's first tile declared ` +
          `${this.imageWidth}x${this.imageHeight}; every tile of an image must carry the same image size`,
      );
    }
    if (tile.tileCount !== this.tileCount) {
      throw invalidArgument(
        `${where} declares tile_count ${tile.tileCount} but the image's first tile declared ${this.tileCount}; ` +
          `every tile of an image must carry the same tile_count`,
      );
    }
    if (!Number.isInteger(tile.index) || tile.index < 0 || tile.index >= this.tileCount) {
      throw invalidArgument(`${where}: tile_index must be in [0, ${this.tileCount}) as tile_count is ${this.tileCount}`);
    }
    if (this.tiles.has(tile.index)) {
      // A caller that sends an image again under the same id before its final message sees this.
      const all = this.complete
        ? `, and the image's ${this.tileCount} tiles are all in; an image id names one image until its final message, ` +
          'after which it may name another'
        : '';
      throw invalidArgument(`${where} is a duplicate tile: index ${tile.index} was already received${all}`);
    }
    const { x, y, width, height } = tile;
    if (![x, y, width, height].every(Number.isInteger) || width <= 0 || height <= 0) {
      throw invalidArgument(
        `${where} has offset (${x}, ${y}) and size ${width}x${height}; offsets must be whole numbers and the size positive`,
      );
    }
    if (x < 0 || y < 0 || x + width > this.imageWidth || y + height > this.imageHeight) {
      throw invalidArgument(
        `${where} at (${x}, ${y}) size ${width}x${height} reaches (${x + width}, ${y + height}), outside the ` +
          `${this.imageWidth}x${this.imageHeight} image; tiles must lie inside the image`,
      );
    }
    this.tiles.set(tile.index, { x, y, width, height });
  }

  /** Rejects a tile whose bytes decode to another size than its header declared. */
  checkDecodedSize(index: number, width: number, height: number): void {
    const tile = this.requireTile(index);
    if (tile.width !== width || tile.height !== height) {
      throw invalidArgument(
        `image ${quoteId(this.imageId)} tile ${index} declares size ${tile.width}x${tile.height} but its bytes ` +
          `decode to ${width}x${height}; width and height must match the encoded tile`,
      );
    }
  }

  /** Copies a decoded tile into the full-image RGB canvas (gray replicated to RGB). */
  paste(tile: Rect, pixels: RawImage): void {
    const { x, y, width, height } = tile;
    if (pixels.width !== width || pixels.height !== height) {
      throw new OcrError('INTERNAL', `pasting ${pixels.width}x${pixels.height} pixels into a ${width}x${height} tile`);
    }
    if (x < 0 || y < 0 || x + width > this.imageWidth || y + height > this.imageHeight) {
      throw new OcrError('INTERNAL', `tile at (${x}, ${y}) size ${width}x${height} lies outside the image`);
    }
    if (pixels.data.length < width * height * pixels.channels) {
      throw new OcrError('INTERNAL', `tile pixel buffer holds ${pixels.data.length} bytes, too few for ${width}x${height}`);
    }
    const canvas = this.canvasData();
    const canvasStride = this.imageWidth * 3;
    const rowBytes = width * 3;
    if (pixels.channels === 3) {
      for (let row = 0; row < height; row++) {
        const from = row * rowBytes;
        canvas.set(pixels.data.subarray(from, from + rowBytes), (y + row) * canvasStride + x * 3);
      }
      return;
    }
    // Gray has no row copy into interleaved RGB; replicate each sample.
    const src = pixels.data;
    for (let row = 0; row < height; row++) {
      let s = row * width;
      let d = (y + row) * canvasStride + x * 3;
      for (let col = 0; col < width; col++, s++, d += 3) {
        const v = src[s]!;
        canvas[d] = v;
        canvas[d + 1] = v;
        canvas[d + 2] = v;
      }
    }
  }

  /** paste, a band of rows a turn of the event loop, so that the server answers others between bands. */
  async pasteInTurns(tile: Rect, pixels: RawImage): Promise<void> {
    const rowBytes = pixels.width * pixels.channels;
    const rows = Math.max(1, Math.floor(PASTE_SLICE_BYTES / rowBytes));
    for (let row = 0; row < tile.height; row += rows) {
      const height = Math.min(rows, tile.height - row);
      const data = pixels.data.subarray(row * rowBytes, (row + height) * rowBytes);
      this.paste({ ...tile, y: tile.y + row, height }, { ...pixels, height, data });
      await nextTurn();
    }
  }

  /** The full image as pasted so far; regions no tile covered are black. */
  canvas(): RgbCanvas {
    return { data: this.canvasData(), width: this.imageWidth, height: this.imageHeight, channels: 3 };
  }

  addResult(result: TileResult): void {
    this.results.push(result);
  }

  /** The declared rectangle of an accepted tile, or undefined. */
  tileRect(index: number): Rect | undefined {
    const tile = this.tiles.get(index);
    return tile && { ...tile };
  }

  /**
   * A region no accepted tile covers (topmost, then leftmost), or null when the tiles cover the whole
   * image. Meant for after completion, to reject tiles that leave holes.
   */
  uncovered(): Rect | null {
    const tiles = [...this.tiles.values()];
    const ys = distinctSorted([0, this.imageHeight, ...tiles.flatMap((t) => [t.y, t.y + t.height])]);
    // Between consecutive tile top/bottom edges the set of tiles crossing a row is constant, so each
    // such band needs one interval sweep.
    for (let b = 0; b + 1 < ys.length; b++) {
      const top = ys[b]!;
      const bottom = ys[b + 1]!;
      const spans = tiles
        .filter((t) => t.y <= top && t.y + t.height >= bottom)
        .map((t) => [t.x, t.x + t.width] as const)
        .sort((p, q) => p[0] - q[0]);
      let reached = 0;
      for (const [start, end] of spans) {
        if (start > reached) break;
        reached = Math.max(reached, end);
      }
      if (reached < this.imageWidth) {
        const next = spans.find(([start]) => start > reached);
        const right = next ? next[0] : this.imageWidth;
        return { x: reached, y: top, width: right - reached, height: bottom - top };
      }
    }
    return null;
  }

  /** Error text for a stream that ended before the image's last tile. */
  describeIncomplete(): string {
    const missing: number[] = [];
    for (let i = 0; i < this.tileCount && missing.length <= MAX_LISTED_MISSING; i++) {
      if (!this.tiles.has(i)) missing.push(i);
    }
    const totalMissing = this.tileCount - this.tiles.size;
    const listed = missing.slice(0, MAX_LISTED_MISSING).join(', ');
    const more = totalMissing > MAX_LISTED_MISSING ? ` and ${totalMissing - MAX_LISTED_MISSING} more` : '';
    const noun = totalMissing === 1 ? 'tile' : 'tiles';
    return (
      `image ${quoteId(this.imageId)} ended after ${this.tiles.size} of ${this.tileCount} tiles; ` +
      `send the missing ${noun} ${listed}${more} or restart the image`
    );
  }

  private requireTile(index: number): Rect {
    const tile = this.tiles.get(index);
    if (!tile) {
      throw new OcrError('INTERNAL', `image ${quoteId(this.imageId)} tile ${index} was not accepted before use`);
    }
    return tile;
  }

  // Allocated on first use so a stream rejected at its first tile never costs W×H×3 bytes.
  private canvasData(): Uint8Array {
    this.pixels ??= new Uint8Array(this.imageWidth * this.imageHeight * 3);
    return this.pixels;
  }
}

function quoteId(id: string): string {
  return `'${id}'`;
}

function isPositiveInteger(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}

function distinctSorted(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}
