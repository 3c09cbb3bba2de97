import { expect } from 'chai';

import { TileAssembly, type TileHeader } from '../../src/server/tile-assembly.js';
import { OcrError } from '../../src/shared/errors.js';
import type { Rect } from '../../src/shared/quad.js';
import { planTiles } from '../../src/shared/tiling.js';

const LIMITS = { maxPixels: 10_000_000, maxTiles: 64 };

function assembly(imageWidth = 10, imageHeight = 8, tileCount = 4, imageId = 'a'): TileAssembly {
  return new TileAssembly({ imageId, imageWidth, imageHeight, tileCount }, LIMITS);
}

function header(a: TileAssembly, index: number, rect: Rect, overrides: Partial<TileHeader> = {}): TileHeader {
  return {
    index,
    ...rect,
    imageWidth: a.imageWidth,
    imageHeight: a.imageHeight,
    tileCount: a.tileCount,
    ...overrides,
  };
}

function expectError(fn: () => unknown, code: string, ...patterns: RegExp[]): void {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(OcrError);
    expect((err as OcrError).code).to.equal(code);
    for (const pattern of patterns) expect((err as OcrError).message).to.match(pattern);
    return;
  }
  expect.fail(`expected ${code}`);
}

/** A tile whose every pixel encodes its image coordinates, so misplaced copies show. */
function rgbTile(rect: Rect): { data: Uint8Array; width: number; height: number; channels: 3 } {
  const data = new Uint8Array(rect.width * rect.height * 3);
  for (let r = 0; r < rect.height; r++) {
    for (let c = 0; c < rect.width; c++) {
      const i = (r * rect.width + c) * 3;
      data[i] = rect.x + c;
      data[i + 1] = rect.y + r;
      data[i + 2] = 200;
    }
  }
  return { data, width: rect.width, height: rect.height, channels: 3 };
}

const QUADRANTS: Rect[] = [
  { x: 0, y: 0, width: 6, height: 5 },
  { x: 4, y: 0, width: 6, height: 5 },
  { x: 0, y: 3, width: 6, height: 5 },
  { x: 4, y: 3, width: 6, height: 5 },
];

describe('TileAssembly', () => {
  it('counts accepted tiles and becomes complete with the last one, in any order', () => {
    const a = assembly();
    expect(a.complete).to.equal(false);
    for (const index of [2, 0, 3]) a.accept(header(a, index, QUADRANTS[index]!));
    expect(a.receivedCount).to.equal(3);
    expect(a.complete).to.equal(false);
    a.accept(header(a, 1, QUADRANTS[1]!));
    expect(a.receivedCount).to.equal(4);
    expect(a.complete).to.equal(true);
    expect(a.tileRect(3)).to.deep.equal(QUADRANTS[3]);
    expect(a.tileRect(9)).to.equal(undefined);
  });

  it('rejects a tile whose image size differs from the first tile', () => {
    const a = assembly(10, 8, 4, 'scan-7');
    expectError(
      () => a.accept(header(a, 1, QUADRANTS[1]!, { imageWidth: 11 })),
      'INVALID_ARGUMENT',
      /image 'scan-7' tile 1/,
      /11x8/,
      /10x8/,
    );
    expectError(() => a.accept(header(a, 1, QUADRANTS[1]!, { imageHeight: 9 })), 'INVALID_ARGUMENT', /10x9/);
  });

  it('rejects a tile whose tile count differs from the first tile', () => {
    const a = assembly();
    expectError(
      () => a.accept(header(a, 1, QUADRANTS[1]!, { tileCount: 5 })),
      'INVALID_ARGUMENT',
      /image 'a' tile 1 declares tile_count 5 but the image's first tile declared 4/,
    );
  });

  it('rejects an index outside [0, tileCount)', () => {
    const a = assembly();
    expectError(() => a.accept(header(a, 4, QUADRANTS[0]!)), 'INVALID_ARGUMENT', /tile 4/, /\[0, 4\)/);
    expectError(() => a.accept(header(a, -1, QUADRANTS[0]!)), 'INVALID_ARGUMENT', /tile -1/);
    expectError(() => a.accept(header(a, 1.5, QUADRANTS[0]!)), 'INVALID_ARGUMENT', /tile 1\.5/);
    expect(a.receivedCount).to.equal(0);
  });

  it('rejects the same index twice and keeps the first', () => {
    const a = assembly();
    a.accept(header(a, 2, QUADRANTS[2]!));
    expectError(() => a.accept(header(a, 2, QUADRANTS[3]!)), 'INVALID_ARGUMENT', /image 'a' tile 2 is a duplicate/);
    expect(a.receivedCount).to.equal(1);
    expect(a.tileRect(2)).to.deep.equal(QUADRANTS[2]);
  });

  it('rejects tiles outside the image or of zero size', () => {
    const a = assembly();
    expectError(
      () => a.accept(header(a, 0, { x: 5, y: 0, width: 6, height: 5 })),
      'INVALID_ARGUMENT',
      /tile 0 at \(5, 0\) size 6x5 reaches \(11, 5\), outside the 10x8 image/,
    );
    expectError(() => a.accept(header(a, 0, { x: 0, y: 4, width: 6, height: 5 })), 'INVALID_ARGUMENT', /outside/);
    expectError(() => a.accept(header(a, 0, { x: -1, y: 0, width: 6, height: 5 })), 'INVALID_ARGUMENT', /outside/);
    expectError(() => a.accept(header(a, 0, { x: 0, y: 0, width: 0, height: 5 })), 'INVALID_ARGUMENT', /size 0x5/);
    expectError(() => a.accept(header(a, 0, { x: 0, y: 0, width: 3, height: -2 })), 'INVALID_ARGUMENT', /size 3x-2/);
    expectError(() => a.accept(header(a, 0, { x: 0.5, y: 0, width: 3, height: 2 })), 'INVALID_ARGUMENT', /whole numbers/);
    expect(a.receivedCount).to.equal(0);
    // A tile exactly the image's size is fine.
    a.accept(header(a, 0, { x: 0, y: 0, width: 10, height: 8 }));
  });

  it('rejects a tile whose bytes decode to another size than declared', () => {
    const a = assembly();
    a.accept(header(a, 1, QUADRANTS[1]!));
    a.checkDecodedSize(1, 6, 5);
    expectError(() => a.checkDecodedSize(1, 6, 4), 'INVALID_ARGUMENT', /image 'a' tile 1 declares size 6x5 but its bytes decode to 6x4/);
    expectError(() => a.checkDecodedSize(0, 6, 5), 'INTERNAL', /not accepted/);
  });

  it('refuses images over the pixel or tile limits before allocating anything', () => {
    expectError(
      () => new TileAssembly({ imageId: 'big', imageWidth: 5000, imageHeight: 3000, tileCount: 4 }, LIMITS),
      'RESOURCE_EXHAUSTED',
      /image 'big' is 5000x3000 = 15000000 pixels, more than the server's limit of 10000000/,
    );
    expectError(
      () => new TileAssembly({ imageId: 'many', imageWidth: 100, imageHeight: 100, tileCount: 65 }, LIMITS),
      'RESOURCE_EXHAUSTED',
      /image 'many' declares 65 tiles, more than the server's limit of 64/,
    );
    // At the limits exactly is allowed.
    new TileAssembly({ imageId: 'ok', imageWidth: 5000, imageHeight: 2000, tileCount: 64 }, LIMITS);
  });

  it('refuses a malformed image declaration', () => {
    expectError(
      () => new TileAssembly({ imageId: 'z', imageWidth: 0, imageHeight: 10, tileCount: 1 }, LIMITS),
      'INVALID_ARGUMENT',
      /image 'z' declares size 0x10/,
    );
    expectError(
      () => new TileAssembly({ imageId: 'z', imageWidth: 10, imageHeight: 10, tileCount: 0 }, LIMITS),
      'INVALID_ARGUMENT',
      /tile_count 0/,
    );
  });

  it('pastes RGB tiles into the right place of the canvas', () => {
    const a = assembly();
    for (const [i, rect] of QUADRANTS.entries()) {
      a.accept(header(a, i, rect));
      a.paste(rect, rgbTile(rect));
    }
    const canvas = a.canvas();
    expect(canvas.width).to.equal(10);
    expect(canvas.height).to.equal(8);
    expect(canvas.channels).to.equal(3);
    expect(canvas.data.length).to.equal(10 * 8 * 3);
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 10; x++) {
        const i = (y * 10 + x) * 3;
        expect([canvas.data[i], canvas.data[i + 1], canvas.data[i + 2]], `pixel ${x},${y}`).to.deep.equal([x, y, 200]);
      }
    }
  });

  it('leaves unpasted pixels black and later tiles overwrite the overlap', () => {
    const a = assembly();
    const rect = { x: 2, y: 1, width: 3, height: 2 };
    a.paste(rect, rgbTile(rect));
    a.paste({ x: 4, y: 1, width: 1, height: 1 }, { data: new Uint8Array([9, 9, 9]), width: 1, height: 1, channels: 3 });
    const { data } = a.canvas();
    const at = (x: number, y: number): number[] => [...data.subarray((y * 10 + x) * 3, (y * 10 + x) * 3 + 3)];
    expect(at(1, 1)).to.deep.equal([0, 0, 0]);
    expect(at(5, 1)).to.deep.equal([0, 0, 0]);
    expect(at(2, 3)).to.deep.equal([0, 0, 0]);
    expect(at(2, 1)).to.deep.equal([2, 1, 200]);
    expect(at(4, 2)).to.deep.equal([4, 2, 200]);
    expect(at(4, 1)).to.deep.equal([9, 9, 9]);
  });

  it('pastes a tile of several bands of rows a turn at a time, as one paste would', async () => {
    // 3000 px rows of 9000 bytes: about 466 rows a band, so 1000 rows take three.
    const rect = { x: 100, y: 20, width: 3000, height: 1000 };
    const tile = { ...rgbTile(rect), data: Uint8Array.from({ length: rect.width * rect.height * 3 }, (_, i) => (i * 7) % 251) };
    const banded = new TileAssembly({ imageId: 'b', imageWidth: 3200, imageHeight: 1100, tileCount: 1 }, LIMITS);
    const whole = new TileAssembly({ imageId: 'w', imageWidth: 3200, imageHeight: 1100, tileCount: 1 }, LIMITS);
    await banded.pasteInTurns(rect, tile);
    whole.paste(rect, tile);
    expect(Buffer.compare(banded.canvas().data, whole.canvas().data)).to.equal(0);
  });

  it('replicates gray tiles into all three channels', () => {
    const a = assembly();
    const rect = { x: 7, y: 6, width: 3, height: 2 };
    a.paste(rect, { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 3, height: 2, channels: 1 });
    const { data } = a.canvas();
    expect([...data.subarray((6 * 10 + 7) * 3, (6 * 10 + 10) * 3)]).to.deep.equal([1, 1, 1, 2, 2, 2, 3, 3, 3]);
    expect([...data.subarray((7 * 10 + 7) * 3, (7 * 10 + 10) * 3)]).to.deep.equal([4, 4, 4, 5, 5, 5, 6, 6, 6]);
    expect([...data.subarray((6 * 10 + 6) * 3, (6 * 10 + 7) * 3)]).to.deep.equal([0, 0, 0]);
  });

  it('rejects pixels that do not fit the tile they are pasted as', () => {
    const a = assembly();
    const rect = { x: 0, y: 0, width: 3, height: 2 };
    expectError(() => a.paste(rect, { ...rgbTile(rect), width: 2 }), 'INTERNAL', /2x2 pixels into a 3x2 tile/);
    expectError(() => a.paste({ ...rect, x: 8 }, rgbTile(rect)), 'INTERNAL', /outside/);
    expectError(() => a.paste(rect, { data: new Uint8Array(5), width: 3, height: 2, channels: 1 }), 'INTERNAL', /too few/);
  });

  it('reports no hole when tiles cover the image, including a planned grid', () => {
    const a = assembly();
    QUADRANTS.forEach((rect, i) => a.accept(header(a, i, rect)));
    expect(a.uncovered()).to.equal(null);

    const plan = planTiles(3000, 2000, 1024, 96);
    const big = new TileAssembly({ imageId: 'g', imageWidth: 3000, imageHeight: 2000, tileCount: plan.length }, LIMITS);
    plan.forEach((rect, i) => big.accept(header(big, i, rect)));
    expect(big.uncovered()).to.equal(null);
  });

  it('finds the hole a missing tile leaves', () => {
    const plan = planTiles(3000, 2000, 1024, 96);
    const big = new TileAssembly({ imageId: 'g', imageWidth: 3000, imageHeight: 2000, tileCount: plan.length }, LIMITS);
    const columns = plan.filter((t) => t.y === 0).length;
    expect(columns).to.equal(4);
    // The tile in the second row, second column is sent with tile 0's rectangle instead.
    const missing = columns + 1;
    plan.forEach((rect, i) => big.accept(header(big, i, i === missing ? plan[0]! : rect)));
    expect(big.complete).to.equal(true);
    const left = plan[missing - 1]!;
    const right = plan[missing + 1]!;
    const above = plan[missing - columns]!;
    const below = plan[missing + columns]!;
    // The part of the missing tile that no neighbour overlaps.
    expect(big.uncovered()).to.deep.equal({
      x: left.x + left.width,
      y: above.y + above.height,
      width: right.x - (left.x + left.width),
      height: below.y - (above.y + above.height),
    });
  });

  it('finds holes at the image edges and gaps between tiles', () => {
    const right = assembly(10, 8, 1);
    right.accept(header(right, 0, { x: 0, y: 0, width: 9, height: 8 }));
    expect(right.uncovered()).to.deep.equal({ x: 9, y: 0, width: 1, height: 8 });

    const bottom = assembly(10, 8, 1);
    bottom.accept(header(bottom, 0, { x: 0, y: 0, width: 10, height: 6 }));
    expect(bottom.uncovered()).to.deep.equal({ x: 0, y: 6, width: 10, height: 2 });

    const gap = assembly(10, 8, 2);
    gap.accept(header(gap, 0, { x: 0, y: 0, width: 3, height: 8 }));
    gap.accept(header(gap, 1, { x: 5, y: 0, width: 5, height: 8 }));
    expect(gap.uncovered()).to.deep.equal({ x: 3, y: 0, width: 2, height: 8 });

    const leftTop = assembly(10, 8, 2);
    leftTop.accept(header(leftTop, 0, { x: 0, y: 2, width: 10, height: 6 }));
    leftTop.accept(header(leftTop, 1, { x: 2, y: 0, width: 8, height: 2 }));
    expect(leftTop.uncovered()).to.deep.equal({ x: 0, y: 0, width: 2, height: 2 });
  });

  it('describes an image whose stream ended early, listing the missing tiles', () => {
    const a = new TileAssembly({ imageId: 'a', imageWidth: 100, imageHeight: 100, tileCount: 6 }, LIMITS);
    for (const index of [0, 2, 3]) a.accept(header(a, index, { x: 0, y: 0, width: 10, height: 10 }));
    expect(a.describeIncomplete()).to.equal("image 'a' ended after 3 of 6 tiles; send the missing tiles 1, 4, 5 or restart the image");
    a.accept(header(a, 1, { x: 0, y: 0, width: 10, height: 10 }));
    a.accept(header(a, 5, { x: 0, y: 0, width: 10, height: 10 }));
    expect(a.describeIncomplete()).to.equal("image 'a' ended after 5 of 6 tiles; send the missing tile 4 or restart the image");
  });

  it('shortens the list of missing tiles for large images', () => {
    const a = new TileAssembly({ imageId: 'b', imageWidth: 100, imageHeight: 100, tileCount: 50 }, LIMITS);
    a.accept(header(a, 0, { x: 0, y: 0, width: 10, height: 10 }));
    const text = a.describeIncomplete();
    expect(text).to.match(/^image 'b' ended after 1 of 50 tiles; send the missing tiles 1, 2, .*, 20 and 29 more or restart the image$/);
  });

  it('accumulates per-tile results', () => {
    const a = assembly();
    expect(a.results).to.deep.equal([]);
    const result = { tile: QUADRANTS[0]!, lines: [] };
    a.addResult(result);
    a.addResult({ tile: QUADRANTS[1]!, lines: [] });
    expect(a.results).to.have.length(2);
    expect(a.results[0]).to.equal(result);
  });
});
