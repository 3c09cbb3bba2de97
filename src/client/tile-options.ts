/**
 * The options object of the large-image helpers, checked before anything is read from it: an untyped
 * caller that leaves it out reads "Cannot read properties of undefined (reading 'signal')", and one
 * that passes the tile size alone, "tileSize must be a whole number of pixels > 0, got undefined".
 */
import { DEFAULT_TILE_OVERLAP, planTiles } from '../shared/tiling.js';
import { tilesRefusal } from './errors.js';
import { kindOf } from './image-bytes.js';

/** `options` if it is an object; else a TypeError that names `helper` and shows what it takes. */
export function checkTileOptions<T extends object>(options: T, helper: string): T {
  if (typeof options === 'object' && options !== null && !Array.isArray(options)) return options;
  const hint = typeof options === 'number' ? `: pass { tileSize: ${String(options)} }` : '';
  throw new TypeError(`${helper} takes an options object with the tile size, e.g. { tileSize: 1024 }, got ${kindOf(options)}${hint}`);
}

/**
 * Refuses a tile size or overlap that no image could be cut by, as TiledImage.tiles would refuse it
 * (an INVALID_ARGUMENT OcrCallError): before the image is decoded, which a large one takes a while to.
 */
export function checkTileSizes(tileSize: number, overlap = DEFAULT_TILE_OVERLAP): void {
  try {
    planTiles(1, 1, tileSize, overlap);
  } catch (err) {
    throw tilesRefusal(err);
  }
}
