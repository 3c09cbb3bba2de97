import { expect } from 'chai';
import { isLineImage } from '../../src/engine/detect/line-image.js';
import type { Quad } from '../../src/engine/types.js';

const box = (x0: number, y0: number, x1: number, y1: number): Quad => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
];

describe('isLineImage', () => {
  it('takes a crop whose one row of boxes fills its height as a line image', () => {
    expect(isLineImage(600, 50, [box(10, 8, 200, 42), box(220, 9, 580, 43)])).to.equal(true);
  });

  it('takes a low, wide image with only noise fragments detected as a line image', () => {
    expect(isLineImage(374, 36, [box(140, 17, 298, 25)])).to.equal(true);
  });

  it('takes a wide image where nothing was detected as a line image, a tall one not', () => {
    expect(isLineImage(400, 40, [])).to.equal(true);
    expect(isLineImage(400, 800, [])).to.equal(false);
  });

  it('does not take two rows of text as one line', () => {
    expect(isLineImage(600, 60, [box(10, 2, 300, 28), box(10, 32, 300, 58)])).to.equal(false);
  });

  it('does not take a page with one short line as a line image', () => {
    expect(isLineImage(1200, 1600, [box(100, 100, 400, 130)])).to.equal(false);
  });
});
