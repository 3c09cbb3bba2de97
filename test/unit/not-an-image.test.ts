import { expect } from 'chai';
import sharp from 'sharp';
import { notAnImage } from '../../src/shared/not-an-image.js';

const bytes = (...parts: Array<string | number[]>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('the refusal of bytes that are no image read here', () => {
  it('names the files often sent for an image, and what to send instead', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const jpeg = await sharp(png).jpeg().toBuffer();
    const cases: Array<[string, Buffer, RegExp]> = [
      ['PDF', bytes('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj'), /^image is a PDF document, not a .*: send each page as an image \(`pdftoppm/],
      [
        'HEIC',
        bytes([0, 0, 0, 0x18], 'ftypheic', [0, 0, 0, 0], 'mif1heic'),
        /^image is a HEIC\/HEIF image \(as phones take photos\), not .*: convert it to PNG or JPEG/,
      ],
      ['HEIF', bytes([0, 0, 0, 0x18], 'ftypmif1', [0, 0, 0, 0], 'mif1'), /HEIC\/HEIF image/],
      ['AVIF', bytes([0, 0, 0, 0x1c], 'ftypavif', [0, 0, 0, 0], 'avifmif1'), /^image is an AVIF image, not .*: convert it/],
      [
        "HEIF under a camera maker's brand",
        bytes([0, 0, 0, 0x18], 'ftypMiHE', [0, 0, 0, 0], 'MiHEmif1heic'),
        /^image is a HEIC\/HEIF image \(as phones take photos\)/,
      ],
      ['AVIF under the brand of its family', bytes([0, 0, 0, 0x1c], 'ftypmif1', [0, 0, 0, 0], 'mif1avifmiaf'), /^image is an AVIF image/],
      ['intra-only AVIF', bytes([0, 0, 0, 0x18], 'ftypavio', [0, 0, 0, 0], 'avio'), /^image is an AVIF image/],
      [
        'BigTIFF, little-endian',
        bytes('II+\0', [8, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0]),
        /^image is a BigTIFF image \(a TIFF with 64-bit offsets\), not .*: save it as a standard TIFF, PNG or JPEG/,
      ],
      ['BigTIFF, big-endian', bytes('MM\0+', [0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]), /a BigTIFF image/],
      ['JPEG XL codestream', bytes([0xff, 0x0a, 0xfa, 0x7f]), /a JPEG XL image/],
      ['JPEG XL container', bytes([0, 0, 0, 0x0c], 'JXL \r\n\x87\n'), /a JPEG XL image/],
      ['JPEG 2000 file', bytes([0, 0, 0, 0x0c], 'jP  \r\n\x87\n'), /a JPEG 2000 image/],
      ['JPEG 2000 codestream', bytes([0xff, 0x4f, 0xff, 0x51, 0, 0x2f]), /a JPEG 2000 image/],
      ['SVG', bytes('<svg xmlns="http://www.w3.org/2000/svg" width="10"/>'), /^image is an SVG \(vector\) image, not .*: render it to PNG/],
      [
        'SVG with a prolog and a BOM',
        bytes('\xef\xbb\xbf  <?xml version="1.0"?>\n<!-- x -->\n<svg viewBox="0 0 1 1"></svg>'),
        /an SVG \(vector\) image/,
      ],
      [
        "SVG after an editor's comment",
        bytes('<!-- Generator: Adobe Illustrator 27.0 -->\n<svg version="1.1">'),
        /an SVG \(vector\) image/,
      ],
      [
        'SVG with its DOCTYPE',
        bytes('<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg>'),
        /an SVG \(vector\) image/,
      ],
      ['base64 of a PNG', Buffer.from(png.toString('base64')), /^image is the base64 text of a PNG image, not .*: send the decoded bytes/],
      ['a data: URL of a JPEG', Buffer.from(`data:image/jpeg;base64,${jpeg.toString('base64')}`), /the base64 text of a JPEG image/],
      ['URL-safe base64 of a JPEG', Buffer.from(jpeg.toString('base64url')), /the base64 text of a JPEG image/],
    ];
    for (const [name, buf, message] of cases) expect(notAnImage('image', buf), name).to.match(message);
  });

  it('describes any other bytes by their length and first bytes', () => {
    for (const buf of [
      Buffer.from('hello, this is not an image'),
      Buffer.from('{"image": "iVBORw0KGgo..."}'),
      Buffer.from('AAAAAAAAAAAAAAAAAAAA'),
      bytes('<html><body>'),
    ]) {
      expect(notAnImage('the field image', buf)).to.match(
        /^the field image is not a JPEG, PNG, WebP, TIFF, GIF or BMP file \(\d+ bytes starting ([0-9a-f]{2} ){7}[0-9a-f]{2}\); send the encoded image file, not pixels or base64 text$/,
      );
    }
  });
});
