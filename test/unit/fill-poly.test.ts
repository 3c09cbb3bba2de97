import { expect } from 'chai';
import { fillPoly } from '../../src/engine/detect/fill-poly.js';
import type { Point } from '../../src/engine/types.js';

function render(w: number, h: number, poly: Point[]): string[] {
  const mask = new Uint8Array(w * h);
  fillPoly(mask, w, h, poly);
  const rows: string[] = [];
  for (let y = 0; y < h; y++) rows.push(Array.from(mask.subarray(y * w, (y + 1) * w), (v) => (v ? '#' : '.')).join(''));
  return rows;
}

// Expected masks are what cv2.fillPoly(mask, [poly], 1) produces (LINE_8, shift 0).
describe('fillPoly', () => {
  it('fills a rectangle including its outline', () => {
    expect(
      render(5, 4, [
        [1, 1],
        [3, 1],
        [3, 2],
        [1, 2],
      ]),
    ).to.deep.equal(['.....', '.###.', '.###.', '.....']);
  });

  it('rasterizes a tilted quad like OpenCV (Bresenham outline + fixed-point scan fill)', () => {
    expect(
      render(9, 7, [
        [1, 1],
        [7, 2],
        [6, 6],
        [0, 4],
      ]),
    ).to.deep.equal(['.........', '.####....', '.#######.', '########.', '#######..', '..#####..', '.....##..']);
  });

  it('keeps a thin diagonal sliver 8-connected', () => {
    expect(
      render(8, 6, [
        [0, 0],
        [7, 4],
        [7, 5],
        [0, 1],
      ]),
    ).to.deep.equal(['#.......', '###.....', '.####...', '...####.', '.....###', '.......#']);
  });

  it('clips vertices outside the mask', () => {
    expect(
      render(6, 5, [
        [-2, -1],
        [8, 1],
        [5, 7],
        [-1, 4],
      ]),
    ).to.deep.equal(['#####.', '######', '######', '######', '######']);
  });

  it('draws a single point and leaves an empty polygon alone', () => {
    expect(
      render(3, 3, [
        [1, 1],
        [1, 1],
        [1, 1],
        [1, 1],
      ]),
    ).to.deep.equal(['...', '.#.', '...']);
    expect(render(3, 3, [])).to.deep.equal(['...', '...', '...']);
  });
});
