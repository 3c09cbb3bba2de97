import { expect } from 'chai';

import { OcrError } from '../../src/shared/errors.js';
import type { Rect } from '../../src/shared/quad.js';
import { DEFAULT_TILE_OVERLAP, planTiles } from '../../src/shared/tiling.js';

/** The distinct spans along one axis, in order of first appearance. */
function spans(tiles: Rect[], axis: 'x' | 'y'): Array<[number, number]> {
  const size = axis === 'x' ? 'width' : 'height';
  const seen = new Map<string, [number, number]>();
  for (const t of tiles) seen.set(`${t[axis]}:${t[size]}`, [t[axis], t[axis] + t[size]]);
  return [...seen.values()];
}

function expectInvalid(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(OcrError);
    expect((err as OcrError).code).to.equal('INVALID_ARGUMENT');
    expect((err as OcrError).message).to.match(pattern);
    return;
  }
  expect.fail('expected an INVALID_ARGUMENT error');
}

describe('planTiles', () => {
  it('gives one tile for an image no larger than a tile', () => {
    expect(planTiles(300, 200, 1024, 96)).to.deep.equal([{ x: 0, y: 0, width: 300, height: 200 }]);
    expect(planTiles(1024, 1024, 1024, 96)).to.deep.equal([{ x: 0, y: 0, width: 1024, height: 1024 }]);
  });

  it('splits only the axis that is too long', () => {
    const tiles = planTiles(1025, 700, 1024, 96);
    expect(tiles).to.have.length(2);
    for (const t of tiles) {
      expect(t.y).to.equal(0);
      expect(t.height).to.equal(700);
    }
  });

  it('spreads tiles evenly with the smallest equal size instead of a short last tile', () => {
    // 3 columns are needed; 764 px each overlapping by exactly 96 covers 2100 px.
    const tiles = planTiles(2100, 500, 1024, 96);
    expect(tiles).to.deep.equal([
      { x: 0, y: 0, width: 764, height: 500 },
      { x: 668, y: 0, width: 764, height: 500 },
      { x: 1336, y: 0, width: 764, height: 500 },
    ]);
  });

  it('orders tiles row-major', () => {
    const tiles = planTiles(3000, 2500, 1024, 96);
    for (let i = 1; i < tiles.length; i++) {
      const a = tiles[i - 1]!;
      const b = tiles[i]!;
      expect(a.y < b.y || (a.y === b.y && a.x < b.x), `tile ${i} after tile ${i - 1}`).to.equal(true);
    }
    const columns = spans(tiles, 'x').length;
    const rows = spans(tiles, 'y').length;
    expect(tiles).to.have.length(columns * rows);
    expect(tiles[columns]!.x).to.equal(0);
    expect(tiles[columns]!.y).to.be.greaterThan(0);
  });

  it('covers the image exactly with bounded, overlapping, even tiles for many sizes', () => {
    const sizes = [1, 2, 95, 96, 97, 500, 1023, 1024, 1025, 1929, 1952, 1953, 2048, 4095, 4096, 7777, 10000];
    const configs: Array<[number, number]> = [
      [1024, 96],
      [1024, 0],
      [640, 96],
      [97, 96],
      [2, 1],
      [1, 0],
    ];
    for (const [tileSize, overlap] of configs) {
      for (const length of sizes) {
        const tiles = planTiles(length, 7, tileSize, overlap);
        const xs = spans(tiles, 'x');
        const label = `length ${length}, tileSize ${tileSize}, overlap ${overlap}`;
        expect(xs[0]![0], label).to.equal(0);
        expect(xs[xs.length - 1]![1], label).to.equal(length);
        const lengths = new Set(xs.map(([a, b]) => b - a));
        expect(lengths.size, `${label}: all tiles one size`).to.equal(1);
        const tile = [...lengths][0]!;
        expect(tile, label).to.be.at.most(tileSize);
        for (let i = 1; i < xs.length; i++) {
          const shared = xs[i - 1]![1] - xs[i]![0];
          expect(shared, `${label}: overlap of tiles ${i - 1} and ${i}`).to.be.at.least(overlap);
          expect(xs[i]![0], label).to.be.greaterThan(xs[i - 1]![0]);
        }
        // Fewest tiles: one fewer could not cover the axis even at full size.
        const n = xs.length;
        if (n > 1) expect((n - 1) * tileSize - (n - 2) * overlap, `${label}: ${n} tiles is not minimal`).to.be.lessThan(length);
        // Even: overlaps differ by at most a pixel of rounding.
        if (n > 2) {
          const overlaps = xs.slice(1).map((s, i) => xs[i]![1] - s[0]);
          expect(Math.max(...overlaps) - Math.min(...overlaps), label).to.be.at.most(1);
        }
      }
    }
  });

  it('lays out both axes independently', () => {
    const tiles = planTiles(5000, 3000, 2048, 96);
    expect(spans(tiles, 'x')).to.have.length(3);
    expect(spans(tiles, 'y')).to.have.length(2);
    expect(tiles).to.have.length(6);
    for (const t of tiles) {
      expect(t.x + t.width).to.be.at.most(5000);
      expect(t.y + t.height).to.be.at.most(3000);
    }
  });

  it('places every line no taller than the default overlap whole in one of two vertical neighbours', () => {
    const tiles = planTiles(800, 5000, 1024, DEFAULT_TILE_OVERLAP);
    const rows = spans(tiles, 'y');
    for (let top = 0; top + DEFAULT_TILE_OVERLAP <= 5000; top += 7) {
      const bottom = top + DEFAULT_TILE_OVERLAP;
      const inside = rows.some(([a, b]) => a <= top && bottom <= b);
      expect(inside, `line at y ${top}..${bottom}`).to.equal(true);
    }
  });

  it('rejects arguments it cannot tile with, saying what to change', () => {
    expectInvalid(() => planTiles(0, 10, 1024, 96), /imageWidth must be a whole number of pixels > 0, got 0/);
    expectInvalid(() => planTiles(10, -5, 1024, 96), /imageHeight .* got -5/);
    expectInvalid(() => planTiles(10.5, 10, 1024, 96), /imageWidth .* got 10\.5/);
    expectInvalid(() => planTiles(10, 10, 0, 0), /tileSize must be a whole number of pixels > 0, got 0/);
    expectInvalid(() => planTiles(10, 10, Number.NaN, 0), /tileSize .* got NaN/);
    expectInvalid(() => planTiles(10, 10, 1024, -1), /overlap must be a whole number of pixels ≥ 0, got -1/);
    expectInvalid(() => planTiles(10, 10, 1024, 1.5), /overlap .* got 1\.5/);
    expectInvalid(
      () => planTiles(10, 10, 96, 96),
      /overlap \(96\) must be smaller than tileSize \(96\); lower the overlap or raise the tile size/,
    );
  });
});
