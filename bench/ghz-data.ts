/**
 * Writes ghz request data for the configs in bench/ghz/: one Recognize request and one image's
 * RecognizeTiles messages, as JSON with base64 bytes (what ghz and grpcurl expect for `bytes`).
 *   node dist/bench/ghz-data.js [DOC_IMAGE] [TILE_SIZE] [--out DIR]
 * DIR defaults to bench/ghz/, where the configs look for the data; DOC_IMAGE to a receipt of the
 * development set (in ../shared, or $OCR_SHARED_DIR, as the tests find it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_TILE_OVERLAP, OcrCallError, planTiles, TiledImage } from '../src/client/index.js';
import { EVAL_DEV } from '../src/dev/repo-paths.js';

const USAGE = 'usage: node dist/bench/ghz-data.js [IMAGE] [TILE_SIZE] [--out DIR]';
const here = fileURLToPath(new URL('../../bench/ghz/', import.meta.url));

/** Reads the arguments and the image; a mistake in them is said in one line, not Node's stack trace. */
function inputs(): { out: string; image: string; bytes: Buffer; tileSize: number } {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string', default: here } } });
  const image = positionals[0] ?? path.join(EVAL_DEV, 'docs', 'd003_receipt.jpg');
  const tileSize = positionals[1] ?? '1024';
  if (!/^[1-9]\d*$/.test(tileSize)) throw new Error(`TILE_SIZE is ${tileSize}; give a whole number of pixels, e.g. 1024`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(image);
  } catch (err) {
    throw new Error(`cannot read IMAGE ${image}: ${(err as Error).message}`, { cause: err });
  }
  return { out: values.out!, image, bytes, tileSize: Number(tileSize) };
}

async function writeData(): Promise<void> {
  const { out, image, bytes, tileSize } = inputs();
  // Decoded first: bytes that are no image leave no data behind.
  const tiled = await TiledImage.decode(bytes);
  const rects = planTiles(tiled.width, tiled.height, tileSize, DEFAULT_TILE_OVERLAP);
  const tiles = await Promise.all(
    rects.map(async (r, i) => ({
      image_id: 'ghz',
      x: r.x,
      y: r.y,
      image_width: tiled.width,
      image_height: tiled.height,
      tile_index: i,
      tile_count: rects.length,
      image: (await tiled.encodeTile(r)).toString('base64'),
    })),
  );
  writeFileSync(path.join(out, 'recognize.data.json'), JSON.stringify({ image: bytes.toString('base64') }));
  writeFileSync(path.join(out, 'tiles.data.json'), JSON.stringify(tiles));
  console.log(`wrote ${path.join(out, 'recognize.data.json')} and tiles.data.json (${rects.length} tiles of ${image})`);
}

try {
  await writeData();
} catch (err) {
  // A file the SDK refuses says what is wrong in its details; its message adds the call's name and code.
  const said = err instanceof OcrCallError ? err.details : err instanceof Error ? err.message : String(err);
  process.stderr.write(`ghz-data: ${said}\n${USAGE}\n`);
  process.exitCode = 1;
}
