import { expect } from 'chai';
import sharp from 'sharp';

import { ANNOTATION_FONTS, annotationSvg, escapeXml, LOW_CONFIDENCE, textEms } from '../../src/cli/svg-overlay.js';
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

describe('annotation: boxes over the page, text beside it', () => {
  it('escapes the five XML special characters', () => {
    expect(escapeXml(`a<b>&"c"'d'`)).to.equal('a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;');
    expect(escapeXml('&amp;')).to.equal('&amp;amp;');
  });

  it('drops characters XML cannot hold and keeps CJK, emoji and whitespace', () => {
    expect(escapeXml('a\u0000b\u0008c\u001fd\uFFFEe\uD800f')).to.equal('abcdef');
    expect(escapeXml('中文\t😀\n')).to.equal('中文\t😀\n');
  });

  it('counts CJK, kana, hangul and fullwidth characters as one em wide, others as 0.6', () => {
    expect(textEms('中文')).to.equal(2);
    expect(textEms('かなカナ한글')).to.equal(6);
    expect(textEms('：（）￥')).to.equal(4);
    expect(textEms('ab 1')).to.be.closeTo(2.4, 1e-9);
    expect(textEms('')).to.equal(0);
  });

  it('is twice the page wide: the boxes outlined over the page, a white panel to its right', () => {
    const svg = annotationSvg(400, 300, [line('R&D <1>', 10.04, 100, 200, 40), line('价格', 20, 200, 100, 30)]);
    expect(svg).to.match(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="800" height="300" viewBox="0 0 800 300">/);
    expect(svg).to.include('<rect x="400" width="400" height="300" fill="#ffffff"/>');
    expect(svg).to.include('<polygon points="10,100 210,100 210,140 10,140"/>');
    expect(svg).to.include('<polygon points="20,200 120,200 120,230 20,230"/>');
    expect(svg).to.include(`font-family="${ANNOTATION_FONTS}"`);
    expect(ANNOTATION_FONTS).to.match(/^'Noto Sans CJK SC', 'WenQuanYi Micro Hei', sans-serif$/);
  });

  it('writes each text in the panel at its box’s place, 0.8 of the box tall, escaped', () => {
    const svg = annotationSvg(400, 300, [line('R&D <1>', 10.04, 100, 200, 40), line('价格', 20, 200, 100, 30)]);
    // 40 px tall box: 32 px type, its baseline 0.35 em below the box's middle (y 120).
    expect(svg).to.include('<text x="410" y="131.2" font-size="32">R&amp;D &lt;1&gt;</text>');
    expect(svg).to.include('<text x="420" y="223.4" font-size="24">价格</text>');
    // Nothing is written over the page: every text starts in the panel.
    for (const [, x] of svg.matchAll(/<text x="([\d.]+)"/g)) expect(Number(x)).to.be.at.least(400);
  });

  it('sets text too long for its box smaller, and places a tilted box by its bounds', () => {
    const long = annotationSvg(400, 300, [line('价格价格价格价格', 0, 0, 100, 40)]);
    expect(long).to.include('font-size="12.5"'); // 100 px / 8 em, not 32
    const tilted: Line = {
      text: 'ab',
      confidence: 1,
      box: [
        { x: 50, y: 60 },
        { x: 150, y: 40 },
        { x: 152, y: 70 },
        { x: 52, y: 90 },
      ],
    };
    expect(annotationSvg(400, 300, [tilted])).to.include('<text x="450" y="79" font-size="40">ab</text>');
  });

  it('leaves out boxes with too few corners and writes no text for an empty line', () => {
    const svg = annotationSvg(100, 100, [{ text: 'x', confidence: 1, box: [{ x: 1, y: 1 }] }, line('', 10, 10, 50, 20)]);
    expect(svg.match(/<polygon/g)).to.have.length(1);
    expect(svg).not.to.include('<text ');
  });

  it('renders with librsvg: outlines on the page, its inside untouched, the text in the panel', async () => {
    const svg = annotationSvg(120, 80, [line('HHHH', 10, 30, 80, 20), line('a<&>\u0001"b" 中文', 10, 55, 60, 20)]);
    const base = sharp({ create: { width: 240, height: 80, channels: 3, background: '#ffffff' } });
    const { data, info } = await base
      .composite([{ input: Buffer.from(svg) }])
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).to.deep.equal([240, 80]);
    const pixel = (x: number, y: number): number[] => [...data.subarray((y * 240 + x) * info.channels, (y * 240 + x) * info.channels + 3)];
    // The outline's colour on the box's left edge (x = 10, y = 40), white inside the box.
    const [r, g] = pixel(10, 40);
    expect(r! - g!).to.be.greaterThan(100);
    for (let x = 14; x < 86; x += 1) expect(pixel(x, 40), `page at (${x}, 40)`).to.deep.equal([255, 255, 255]);
    // Dark type in the panel on the first box's rows, white panel above it.
    const dark = (y0: number, y1: number): number => {
      let n = 0;
      for (let y = y0; y < y1; y += 1) for (let x = 122; x < 240; x += 1) if (pixel(x, y)[0]! < 128) n += 1;
      return n;
    };
    expect(dark(30, 50)).to.be.greaterThan(20);
    expect(dark(0, 28)).to.equal(0);
  });

  it('underlines, dotted in the boxes’ colour, the text of a line read with less confidence, as the Web UI marks it', async () => {
    const doubtful = { ...line('HHHH', 10, 45, 80, 20), confidence: LOW_CONFIDENCE - 0.3 };
    const svg = annotationSvg(120, 80, [line('HHHH', 10, 10, 80, 20), doubtful]);
    expect(LOW_CONFIDENCE).to.equal(0.8);
    // 16 px type (0.8 of 20 px), its baseline at 60.6: the mark 2 × 1.33 px below it, as long as the text (4 × 0.6 em).
    expect(svg).to.include('<line x1="130" y1="63.3" x2="168.4" y2="63.3" stroke="#e6194b" stroke-width="1.3" stroke-dasharray="1.3"/>');
    expect(svg.match(/stroke-dasharray/g)).to.have.length(1);
    const { data, info } = await sharp({ create: { width: 240, height: 80, channels: 3, background: '#ffffff' } })
      .composite([{ input: Buffer.from(svg) }])
      .raw()
      .toBuffer({ resolveWithObject: true });
    /** Pixels of the boxes' red in the panel between rows y0 and y1. */
    const red = (y0: number, y1: number): number => {
      let n = 0;
      for (let y = y0; y < y1; y += 1) {
        for (let x = 122; x < 240; x += 1) {
          const [r, g] = data.subarray((y * 240 + x) * info.channels);
          if (r! - g! > 100) n += 1;
        }
      }
      return n;
    };
    expect(red(0, 40), 'under the line read with confidence').to.equal(0);
    expect(red(40, 80), 'under the line read with little').to.be.greaterThan(5);
  });
});
