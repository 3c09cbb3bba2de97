import { expect } from 'chai';
import {
  applyHomography,
  cropQuad,
  homographyFromRect,
  isAxisAligned,
  sample,
  sampleAxisAligned,
  thickenQuad,
} from '../../src/engine/recognize/crop.js';
import type { Point, Quad, RawImage } from '../../src/engine/types.js';

/** A 3-channel image whose pixel (x, y) is [f(x,y), f(x,y)+1, f(x,y)+2] mod 256. */
function patterned(width: number, height: number, f: (x: number, y: number) => number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = f(x, y);
      const i = (y * width + x) * 3;
      data[i] = v & 255;
      data[i + 1] = (v + 1) & 255;
      data[i + 2] = (v + 2) & 255;
    }
  }
  return { data, width, height, channels: 3 };
}

function px(img: RawImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * img.channels;
  return Array.from(img.data.subarray(i, i + img.channels));
}

const code = (x: number, y: number): number => (x * 7 + y * 13) % 250;

describe('crop', () => {
  describe('homographyFromRect', () => {
    const quad: Quad = [
      [10, 20],
      [110, 5],
      [130, 70],
      [0, 60],
    ];

    it('maps the rectangle corners onto the quad corners', () => {
      const m = homographyFromRect(200, 40, quad);
      const corners: Point[] = [
        applyHomography(m, 0, 0),
        applyHomography(m, 200, 0),
        applyHomography(m, 200, 40),
        applyHomography(m, 0, 40),
      ];
      corners.forEach((p, i) => {
        expect(p[0]).to.be.closeTo(quad[i]![0], 1e-9);
        expect(p[1]).to.be.closeTo(quad[i]![1], 1e-9);
      });
    });

    it('maps the rectangle centre onto the intersection of the quad diagonals', () => {
      // Diagonals (10,20)+t(120,50) and (110,5)+s(-110,55): 10+120t = 110-110s and
      // 20+50t = 5+55s give t = 7/22 → (10 + 840/22, 20 + 350/22).
      const c = applyHomography(homographyFromRect(200, 40, quad), 100, 20);
      expect(c[0]).to.be.closeTo(10 + 840 / 22, 1e-9);
      expect(c[1]).to.be.closeTo(20 + 350 / 22, 1e-9);
    });

    it('reduces to a plain scale for an axis-aligned rectangle', () => {
      const m = homographyFromRect(10, 5, [
        [0, 0],
        [20, 0],
        [20, 15],
        [0, 15],
      ]);
      [2, 0, 0, 0, 3, 0, 0, 0, 1].forEach((v, i) => expect(m[i]).to.be.closeTo(v, 1e-12));
    });
  });

  describe('sampleAxisAligned', () => {
    it('gives the same pixels, to the bit, as the general sampler on axis-aligned quads', () => {
      let seed = 7;
      const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      for (const channels of [3, 1] as const) {
        const img: RawImage = { data: new Uint8Array(97 * 41 * channels), width: 97, height: 41, channels };
        for (let i = 0; i < img.data.length; i++) img.data[i] = Math.floor(random() * 256);
        for (let trial = 0; trial < 40; trial++) {
          // Up- and downscaling, fractional corners, and corners past the image's edges.
          const x0 = random() * 110 - 8,
            y0 = random() * 50 - 5;
          const quad: Quad = [
            [x0, y0],
            [x0 + 3 + random() * 90, y0],
            [x0 + 3 + random() * 90, y0 + 2 + random() * 40],
            [x0, y0 + 2 + random() * 40],
          ];
          quad[2] = [quad[1][0], quad[3][1]];
          const outW = 1 + Math.floor(random() * 150),
            outH = 1 + Math.floor(random() * 60);
          // One sample per pixel, and the supersampling cropQuad asks for when shrinking.
          const nx = 1 + (trial % 4),
            ny = 1 + (Math.floor(trial / 4) % 4);
          const m = homographyFromRect(outW, outH, quad);
          expect(isAxisAligned(m)).to.equal(true);
          const fast = new Uint8Array(outW * outH * 3);
          const general = new Uint8Array(outW * outH * 3);
          sampleAxisAligned(img, m, outW, outH, nx, ny, fast);
          sample(img, m, outW, outH, nx, ny, general);
          expect(Buffer.from(fast).equals(Buffer.from(general)), `trial ${trial}, ${nx}×${ny}, ${channels} channel(s)`).to.equal(true);
        }
      }
    });

    it('takes quads turned 180° (they stay axis-aligned), not those turned 90° or slanted', () => {
      expect(
        isAxisAligned(
          homographyFromRect(50, 10, [
            [59.5, 29.5],
            [9.5, 29.5],
            [9.5, 19.5],
            [59.5, 19.5],
          ]),
        ),
      ).to.equal(true);
      expect(
        isAxisAligned(
          homographyFromRect(50, 10, [
            [10, 0],
            [10, 50],
            [0, 50],
            [0, 0],
          ]),
        ),
      ).to.equal(false);
      expect(
        isAxisAligned(
          homographyFromRect(50, 10, [
            [0, 0],
            [50, 2],
            [50, 12],
            [0, 10],
          ]),
        ),
      ).to.equal(false);
    });
  });

  describe('cropQuad', () => {
    it('copies pixels exactly at 1:1 scale (quad edges on pixel boundaries)', () => {
      const img = patterned(140, 40, code);
      // Pixels x 10..109, y 5..24 have their centres inside this quad.
      const out = cropQuad(
        img,
        [
          [9.5, 4.5],
          [109.5, 4.5],
          [109.5, 24.5],
          [9.5, 24.5],
        ],
        20,
        1000,
      );
      expect([out.width, out.height, out.channels]).to.deep.equal([100, 20, 3]);
      for (let y = 0; y < 20; y++) for (let x = 0; x < 100; x++) expect(px(out, x, y)).to.deep.equal(px(img, x + 10, y + 5));
    });

    it('scales to the requested height and keeps the aspect ratio', () => {
      const img = patterned(300, 100, code);
      const out = cropQuad(
        img,
        [
          [10, 10],
          [250, 10],
          [250, 70],
          [10, 70],
        ],
        48,
        1000,
      );
      // 240×60 → 48 tall, round(48 · 4) = 192 wide.
      expect([out.width, out.height]).to.deep.equal([192, 48]);
    });

    it('clamps the width to [1, maxOutWidth]', () => {
      const img = patterned(400, 50, code);
      expect(
        cropQuad(
          img,
          [
            [0, 10],
            [399, 10],
            [399, 20],
            [0, 20],
          ],
          48,
          320,
        ).width,
      ).to.equal(320);
      // Wide but flat: a 0.01-px-tall quad would be enormous.
      expect(
        cropQuad(
          img,
          [
            [0, 10],
            [300, 10],
            [300, 10.01],
            [0, 10.01],
          ],
          48,
          500,
        ).width,
      ).to.equal(500);
      expect(
        cropQuad(
          img,
          [
            [5, 5],
            [5.01, 5],
            [5.01, 5.001],
            [5, 5.001],
          ],
          48,
          500,
        ).width,
      ).to.be.at.least(1);
    });

    it('turns tall quads 90° counter-clockwise, as np.rot90 in get_rotate_crop_image', () => {
      const img = patterned(40, 120, code);
      // 20 wide, 100 tall: ratio 5 ≥ 1.5, so the crop is 100 wide and 20 tall, and output (u, v)
      // shows source (29 - v, 5 + u): the quad's top-right corner becomes the top-left.
      const out = cropQuad(
        img,
        [
          [9.5, 4.5],
          [29.5, 4.5],
          [29.5, 104.5],
          [9.5, 104.5],
        ],
        20,
        1000,
      );
      expect([out.width, out.height]).to.deep.equal([100, 20]);
      for (let v = 0; v < 20; v++) for (let u = 0; u < 100; u++) expect(px(out, u, v)).to.deep.equal(px(img, 29 - v, 5 + u));
    });

    it('keeps quads just under the 1.5 ratio horizontal', () => {
      const img = patterned(60, 60, code);
      const out = cropQuad(
        img,
        [
          [0, 0],
          [20, 0],
          [20, 29],
          [0, 29],
        ],
        29,
        1000,
      );
      expect([out.width, out.height]).to.deep.equal([20, 29]);
    });

    it('follows the quad through a rotation', () => {
      // Quad over pixels x 10..59, y 20..29 listed from a 90°-rotated viewpoint is still read along
      // tl→tr: tl = (59.5, 19.5) … gives the source mirrored in both axes (a 180° turn).
      const img = patterned(80, 50, code);
      const out = cropQuad(
        img,
        [
          [59.5, 29.5],
          [9.5, 29.5],
          [9.5, 19.5],
          [59.5, 19.5],
        ],
        10,
        1000,
      );
      expect([out.width, out.height]).to.deep.equal([50, 10]);
      for (let v = 0; v < 10; v++) for (let u = 0; u < 50; u++) expect(px(out, u, v)).to.deep.equal(px(img, 59 - u, 29 - v));
    });

    it('replicates gray input into three channels', () => {
      const gray: RawImage = { data: new Uint8Array(30 * 20), width: 30, height: 20, channels: 1 };
      for (let i = 0; i < gray.data.length; i++) gray.data[i] = i % 200;
      const out = cropQuad(
        gray,
        [
          [4.5, 2.5],
          [24.5, 2.5],
          [24.5, 12.5],
          [4.5, 12.5],
        ],
        10,
        100,
      );
      expect(out.channels).to.equal(3);
      for (let y = 0; y < 10; y++) {
        for (let x = 0; x < 20; x++) {
          const g = gray.data[(y + 3) * 30 + x + 5]!;
          expect(px(out, x, y)).to.deep.equal([g, g, g]);
        }
      }
    });

    it('interpolates bilinearly between pixel centres', () => {
      // Horizontal ramp 0, 10, 20, …; sampling half-way between pixels gives the midpoint.
      const img = patterned(30, 4, (x) => x * 10);
      const out = cropQuad(
        img,
        [
          [2, 1],
          [12, 1],
          [12, 2],
          [2, 2],
        ],
        1,
        100,
      );
      expect([out.width, out.height]).to.deep.equal([10, 1]);
      // Output pixel u samples x = 2.5 + u, y = 1.5 → (x·10 rounded): 25, 35, …
      for (let u = 0; u < 10; u++) expect(px(out, u, 0)[0]).to.equal(25 + 10 * u);
    });

    it('clamps samples outside the image to the edge pixels', () => {
      const img = patterned(10, 10, (x) => 100 + x);
      const out = cropQuad(
        img,
        [
          [-20.5, 2.5],
          [-10.5, 2.5],
          [-10.5, 4.5],
          [-20.5, 4.5],
        ],
        2,
        100,
      );
      expect(out.width).to.equal(10);
      for (let u = 0; u < 10; u++) expect(px(out, u, 0)).to.deep.equal([100, 101, 102]);
    });

    it('averages several samples per pixel when shrinking, so fine patterns do not alias', () => {
      // 1-pixel checkerboard shrunk 4×: plain point sampling would land on pixel centres and give
      // pure 0/255; supersampling gives mid-gray.
      const img = patterned(220, 60, (x, y) => ((x + y) % 2 === 0 ? 0 : 253));
      const out = cropQuad(
        img,
        [
          [9.5, 9.5],
          [209.5, 9.5],
          [209.5, 49.5],
          [9.5, 49.5],
        ],
        10,
        1000,
      );
      expect([out.width, out.height]).to.deep.equal([50, 10]);
      for (let i = 0; i < out.data.length; i += 3) expect(out.data[i]).to.be.within(120, 135);
    });
  });
});

describe('thickenQuad', () => {
  it('grows a line across its height, keeping its length and the order of its corners', () => {
    const line: Quad = [
      [10, 20],
      [110, 20],
      [110, 40],
      [10, 40],
    ];
    expect(thickenQuad(line, 1.1)).to.deep.equal([
      [10, 19],
      [110, 19],
      [110, 41],
      [10, 41],
    ]);
    expect(thickenQuad(line, 1)).to.equal(line);
  });

  it('grows a vertical line across its width, not along it', () => {
    const column: Quad = [
      [10, 0],
      [30, 0],
      [30, 200],
      [10, 200],
    ];
    expect(thickenQuad(column, 1.1)).to.deep.equal([
      [9, 0],
      [31, 0],
      [31, 200],
      [9, 200],
    ]);
  });

  it('grows a line turned on the page along its own height', () => {
    // A line running down the image with its top to the right (a page turned 90°), corners from the text's top-left.
    const turned: Quad = [
      [40, 10],
      [40, 110],
      [20, 110],
      [20, 10],
    ];
    expect(thickenQuad(turned, 1.1)).to.deep.equal([
      [41, 10],
      [41, 110],
      [19, 110],
      [19, 10],
    ]);
  });
});
