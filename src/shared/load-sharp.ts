/**
 * sharp (libvips), loaded on first use. Loading it takes about 0.15 s of a thread; the server's main
 * thread needs it only for the headers its own readers do not know, and the SDK only to cut tiles,
 * so neither a server's start nor a service that imports the SDK waits for it.
 */

// Type only (erased): the module itself is imported below, when first asked for.
import type sharpFactory from 'sharp';

export type Sharp = typeof sharpFactory;

let loading: Promise<Sharp> | undefined;

export function loadSharp(): Promise<Sharp> {
  loading ??= import('sharp').then(
    ({ default: sharp }) => {
      // libvips' operation cache keeps recent images (up to 50 MB) for a repeat of the same operation
      // on the same input, which never comes here: every image is decoded once.
      sharp.cache(false);
      return sharp;
    },
    (err: unknown) => {
      loading = undefined; // installed later: the next call tries again
      const cause = err instanceof Error ? err.message : String(err);
      throw new Error(`the package sharp could not be loaded (npm install sharp): ${cause}`, { cause: err });
    },
  );
  return loading;
}
