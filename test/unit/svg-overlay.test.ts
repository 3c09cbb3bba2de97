import { expect } from 'chai';
import sharp from 'sharp';

import { ANNOTATION_FONTS, escapeXml, overlaySvg } from '../../src/cli/svg-overlay.js';
import type { Line } from '../../src/gen/ocr/v1/ocr.js';

function line(text: string, x: number, y: number, width: number, height: number): Line {
  return {
    text,
    confidence: 0.9,
    box: [
      { x, y },
      { x: x + width, y },
      { x: x + width, y: y + height },
      { x, y: y + height },
    ],
  };
}

describe('annotation overlay', () => {
  it('escapes the five XML special characters', () => {
    expect(escapeXml(`a<b>&"c"'d'`)).to.equal('a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;');
    expect(escapeXml('&amp;')).to.equal('&amp;amp;');
  });

  it('drops characters XML cannot hold and keeps CJK, emoji and whitespace', () => {
    expect(escapeXml('a\u0000b\u0008c\u001fd\uFFFEe\uD800f')).to.equal('abcdef');
    expect(escapeXml('中文\t😀\n')).to.equal('中文\t😀\n');
  });

  it('outlines every box and labels it above, with escaped text and CJK fonts', () => {
    const svg = overlaySvg(400, 300, [line('R&D <1>', 10.04, 100, 200, 40), line('价格', 20, 200, 100, 30)]);
    expect(svg).to.match(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="400" height="300" viewBox="0 0 400 300">/);
    expect(svg).to.include('<polygon points="10,100 210,100 210,140 10,140"/>');
    expect(svg).to.include('<polygon points="20,200 120,200 120,230 20,230"/>');
    expect(svg).to.include('>R&amp;D &lt;1&gt;</text>');
    expect(svg).to.include('>价格</text>');
    expect(svg).to.include(`font-family="${ANNOTATION_FONTS}"`);
    expect(ANNOTATION_FONTS).to.match(/^'Noto Sans CJK SC', 'WenQuanYi Micro Hei', sans-serif$/);
    // 40 px tall box: 24 px text, its baseline 3 px above the box.
    expect(svg).to.include('<text x="10" y="97" font-size="24"');
  });

  it('puts a label below a box at the top edge, and inside a box as tall as the image', () => {
    const below = overlaySvg(400, 300, [line('top', 0, 0, 100, 20)]);
    expect(below).to.match(/<text x="0" y="35" font-size="12"/);
    const inside = overlaySvg(400, 60, [line('whole', 0, 0, 400, 60)]);
    expect(inside).to.match(/<text x="0" y="39" font-size="36"/);
  });

  it('skips boxes with too few corners instead of writing broken shapes', () => {
    const svg = overlaySvg(100, 100, [{ text: 'x', confidence: 1, box: [{ x: 1, y: 1 }] }]);
    expect(svg).not.to.include('<polygon');
    expect(svg).not.to.include('<text ');
  });

  it('renders with librsvg over an image of the same size', async () => {
    const svg = overlaySvg(120, 80, [line('a<&>\u0001"b"', 10, 30, 80, 20), line('中文', 10, 55, 60, 20)]);
    const base = sharp({ create: { width: 120, height: 80, channels: 3, background: '#ffffff' } });
    const { data, info } = await base.composite([{ input: Buffer.from(svg) }]).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).to.deep.equal([120, 80]);
    // The outline's colour is on the box's left edge (x = 10, y = 40).
    const at = (40 * 120 + 10) * info.channels;
    expect(data[at]! - data[at + 1]!).to.be.greaterThan(100);
  });
});
