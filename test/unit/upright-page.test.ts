import { expect } from 'chai';
import sharp from 'sharp';
import { uprightPage } from '../../src/cli/upright-page.js';

/** A 4×2 image whose one white pixel is at (x, y): where it is once sharp turns the image `turn` degrees. */
async function whitePixelAfterTurn(x: number, y: number, turn: number): Promise<{ x: number; y: number }> {
  const pixels = Buffer.alloc(4 * 2);
  pixels[y * 4 + x] = 255;
  const { data, info } = await sharp(pixels, { raw: { width: 4, height: 2, channels: 1 } })
    .rotate(turn)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const at = Math.floor(data.indexOf(255) / info.channels);
  return { x: at % info.width, y: Math.floor(at / info.width) };
}

describe('uprightPage', () => {
  it('keeps a page found upright as it is', () => {
    const page = uprightPage(0, 4, 2);
    expect(page).to.include({ width: 4, height: 2, turn: 0 });
    expect(page.point({ x: 1, y: 1 })).to.deep.equal({ x: 1, y: 1 });
  });

  for (const rotation of [90, 180, 270]) {
    it(`maps a point of a page found turned ${rotation}° where sharp's turn puts that pixel`, async () => {
      const page = uprightPage(rotation, 4, 2);
      expect([page.width, page.height]).to.deep.equal(rotation === 180 ? [4, 2] : [2, 4]);
      // A pixel's centre, (x + 0.5, y + 0.5), is the point that lands on the centre of where it goes.
      const centre = page.point({ x: 1.5, y: 0.5 });
      expect(await whitePixelAfterTurn(1, 0, page.turn)).to.deep.equal({ x: centre.x - 0.5, y: centre.y - 0.5 });
    });
  }
});
