import { expect } from 'chai';
import sharp from 'sharp';
import { TiledImage } from '../../src/client/index.js';
import { bmpFile } from '../../src/dev/bmp-file.js';
import { bmpRows } from '../support/images.js';

/** The RGB pixels of an encoded tile. */
async function pixels(png: Buffer): Promise<Buffer> {
  return sharp(png).raw().toBuffer();
}

describe('TiledImage.decode', () => {
  it('cuts a BMP (which libvips cannot read) into tiles of the pixels the engine would read', async () => {
    const [width, height] = [20, 9];
    // 0xRRGGBB, a colour of its own for every pixel: a tile cut from the wrong place, or flipped, differs.
    const colour = (x: number, y: number): number => x * 12 * 65536 + y * 28 * 256 + 200;
    const tiled = await TiledImage.decode(bmpFile({ width, height, bits: 24, data: bmpRows(width, height, 24, colour) }));
    expect([tiled.width, tiled.height]).to.deep.equal([width, height]);
    const tile = await pixels(await tiled.encodeTile({ x: 5, y: 2, width: 4, height: 3 }));
    const expected = Buffer.alloc(4 * 3 * 3);
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 4; x++) {
        const c = colour(5 + x, 2 + y);
        expected.set([c >> 16, (c >> 8) & 255, c & 255], (y * 4 + x) * 3);
      }
    }
    expect(tile.equals(expected)).to.equal(true);
  });
});
