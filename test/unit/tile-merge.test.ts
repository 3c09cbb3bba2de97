import { expect } from 'chai';

import { OcrError } from '../../src/shared/errors.js';
import type { Quad, Rect } from '../../src/shared/quad.js';
import { planMerge, type TileLine, type TileResult } from '../../src/shared/tile-merge.js';

function quad(x0: number, y0: number, x1: number, y1: number): Quad {
  return [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
  ];
}

function line(text: string, x0: number, y0: number, x1: number, y1: number, confidence = 0.95): TileLine {
  return { text, confidence, box: quad(x0, y0, x1, y1) };
}

function tile(rect: Rect, ...lines: TileLine[]): TileResult {
  return { tile: rect, lines };
}

function texts(lines: TileLine[]): string[] {
  return lines.map((l) => l.text).sort();
}

// Two tiles side by side, sharing x 904..1000.
const W2 = 1904;
const H2 = 1000;
const LEFT: Rect = { x: 0, y: 0, width: 1000, height: 1000 };
const RIGHT: Rect = { x: 904, y: 0, width: 1000, height: 1000 };

describe('planMerge', () => {
  it('keeps every line of a single tile that covers the image, even at the image edges', () => {
    const plan = planMerge(800, 600, [
      tile({ x: 0, y: 0, width: 800, height: 600 }, line('top-left', 0, 0, 200, 30), line('bottom-right', 500, 570, 800, 600)),
    ]);
    expect(texts(plan.keep)).to.deep.equal(['bottom-right', 'top-left']);
    expect(plan.reread).to.deep.equal([]);
  });

  it('merges a long line cut by a vertical border into one region to re-read', () => {
    const plan = planMerge(W2, H2, [
      tile(LEFT, line('Total amount due for the peri', 600, 400, 1000, 440), line('Left only', 100, 100, 400, 140)),
      tile(RIGHT, line('riod ending 31 March', 904, 401, 1300, 441), line('Right only', 1400, 100, 1700, 140)),
    ]);
    expect(texts(plan.keep)).to.deep.equal(['Left only', 'Right only']);
    expect(plan.reread).to.deep.equal([quad(600, 400, 1300, 441)]);
  });

  it('keeps a line seen whole in both tiles of an overlap once, the better reading', () => {
    const plan = planMerge(W2, H2, [
      tile(LEFT, line('Invoice', 920, 200, 990, 230, 0.81)),
      tile(RIGHT, line('Invoice', 921, 201, 991, 231, 0.97)),
    ]);
    expect(plan.keep).to.have.length(1);
    expect(plan.keep[0]!.confidence).to.equal(0.97);
    expect(plan.reread).to.deep.equal([]);
  });

  it('prefers the duplicate with more characters over higher confidence', () => {
    const plan = planMerge(W2, H2, [
      tile(LEFT, line('Invoce', 920, 200, 990, 230, 0.99)),
      tile(RIGHT, line('Invoice', 921, 201, 991, 231, 0.7)),
    ]);
    expect(texts(plan.keep)).to.deep.equal(['Invoice']);
  });

  it('counts CJK characters, not UTF-16 units, when choosing the duplicate', () => {
    const plan = planMerge(W2, H2, [
      tile(LEFT, line('𠀋𠀋', 920, 200, 990, 230, 0.99)),
      tile(RIGHT, line('合计金额', 921, 201, 991, 231, 0.7)),
    ]);
    expect(texts(plan.keep)).to.deep.equal(['合计金额']);
  });

  it('treats words read inside a whole line of another tile as the same text', () => {
    const plan = planMerge(W2, H2, [
      tile(LEFT, line('Grand total', 925, 300, 980, 330)),
      tile(RIGHT, line('Grand', 925, 301, 945, 331), line('total', 955, 301, 980, 331)),
    ]);
    expect(texts(plan.keep)).to.deep.equal(['Grand total']);
  });

  it('keeps distinct lines of the overlap that sit on different rows', () => {
    const plan = planMerge(W2, H2, [
      tile(LEFT, line('first', 920, 200, 990, 230), line('second', 920, 232, 990, 262)),
      tile(RIGHT, line('first', 920, 200, 990, 230), line('second', 920, 232, 990, 262)),
    ]);
    expect(texts(plan.keep)).to.deep.equal(['first', 'second']);
  });

  it('does not de-duplicate overlapping lines within one tile', () => {
    const plan = planMerge(800, 600, [
      tile({ x: 0, y: 0, width: 800, height: 600 }, line('stamp', 100, 100, 300, 160), line('PAID', 110, 105, 290, 155)),
    ]);
    expect(texts(plan.keep)).to.deep.equal(['PAID', 'stamp']);
  });

  it('drops the cut piece of a line that another tile read whole', () => {
    const plan = planMerge(W2, H2, [
      tile(LEFT, line('Subtotal 12', 930, 500, 1000, 530)),
      tile(RIGHT, line('Subtotal 12.50', 930, 500, 1010, 530)),
    ]);
    expect(texts(plan.keep)).to.deep.equal(['Subtotal 12.50']);
    expect(plan.reread).to.deep.equal([]);
  });

  it('drops a cut piece lying mostly inside a whole line of its own tile (cluster rule)', () => {
    const plan = planMerge(W2, H2, [tile(LEFT, line('abc', 900, 500, 1000, 530), line('abcdef', 880, 500, 980, 530))]);
    expect(texts(plan.keep)).to.deep.equal(['abcdef']);
    expect(plan.reread).to.deep.equal([]);
  });

  it('does not merge the cells of a table row cut by a horizontal border when they are far apart', () => {
    // Tiles overlap by only 16 px, so the 60 px row is cut in both of them.
    const top: Rect = { x: 0, y: 0, width: 1500, height: 500 };
    const bottom: Rect = { x: 0, y: 484, width: 1500, height: 516 };
    const cells = [
      [100, 300],
      [600, 800],
      [1100, 1300],
    ] as const;
    const plan = planMerge(1500, 1000, [
      tile(top, ...cells.map(([a, b]) => line('top part', a, 470, b, 500))),
      tile(bottom, ...cells.map(([a, b]) => line('bottom part', a, 484, b, 530))),
    ]);
    expect(plan.keep).to.deep.equal([]);
    expect(plan.reread).to.have.deep.members(cells.map(([a, b]) => quad(a, 470, b, 530)));
    expect(plan.reread).to.have.length(3);
  });

  it('joins cut pieces separated by a word gap but not by a column gap', () => {
    // Both rows are cut by the horizontal border; line height 30 (the taller piece), so gaps up to 15 px join.
    const top: Rect = { x: 0, y: 0, width: 1500, height: 500 };
    const bottom: Rect = { x: 0, y: 480, width: 1500, height: 520 };
    const far = planMerge(1500, 1000, [
      tile(top, line('a', 100, 470, 200, 500), line('b', 216, 470, 300, 500)),
      tile(bottom, line('a', 100, 480, 200, 510), line('b', 216, 480, 300, 510)),
    ]);
    expect(far.reread).to.have.deep.members([quad(100, 470, 200, 510), quad(216, 470, 300, 510)]);
    const close = planMerge(1500, 1000, [
      tile(top, line('a', 100, 470, 200, 500), line('b', 215, 470, 300, 500)),
      tile(bottom, line('a', 100, 480, 200, 510), line('b', 215, 480, 300, 510)),
    ]);
    expect(close.reread).to.deep.equal([quad(100, 470, 300, 510)]);
  });

  it('does not join cut pieces of different rows', () => {
    const plan = planMerge(W2, H2, [
      tile(LEFT, line('row 1', 800, 400, 1000, 440), line('row 2', 800, 445, 1000, 485)),
      tile(RIGHT, line('row 1', 904, 400, 1200, 440), line('row 2', 904, 445, 1200, 485)),
    ]);
    expect(plan.reread).to.have.deep.members([quad(800, 400, 1200, 440), quad(800, 445, 1200, 485)]);
    expect(plan.reread).to.have.length(2);
  });

  it('joins pieces transitively across a chain of tiles', () => {
    // Three tiles in a row; a long line crosses the middle tile entirely.
    const a: Rect = { x: 0, y: 0, width: 500, height: 300 };
    const b: Rect = { x: 450, y: 0, width: 500, height: 300 };
    const c: Rect = { x: 900, y: 0, width: 500, height: 300 };
    const plan = planMerge(1400, 300, [
      tile(a, line('p1', 300, 100, 500, 130)),
      tile(b, line('p2', 450, 100, 950, 130)),
      tile(c, line('p3', 900, 100, 1200, 130)),
    ]);
    expect(plan.reread).to.deep.equal([quad(300, 100, 1200, 130)]);
    expect(plan.keep).to.deep.equal([]);
  });

  it('merges the pieces of a line crossing the corner where four tiles meet', () => {
    const tl: Rect = { x: 0, y: 0, width: 1000, height: 1000 };
    const tr: Rect = { x: 904, y: 0, width: 1000, height: 1000 };
    const bl: Rect = { x: 0, y: 904, width: 1000, height: 1000 };
    const br: Rect = { x: 904, y: 904, width: 1000, height: 1000 };
    const plan = planMerge(1904, 1904, [
      tile(tl, line('Signed on behalf of the', 700, 950, 1000, 1000), line('Dear Sir', 100, 100, 300, 140)),
      tile(tr, line('the company', 904, 950, 1300, 1000), line('Ref 42', 1500, 920, 1600, 950)),
      tile(bl, line('Signed on behalf of the', 700, 950, 1000, 1010), line('Yours', 100, 1500, 300, 1540)),
      // The corner tile saw the reference whole too; it must come out once.
      tile(br, line('the company', 904, 950, 1300, 1010), line('Ref 42', 1500, 920, 1600, 950, 0.99)),
    ]);
    expect(plan.reread).to.deep.equal([quad(700, 950, 1300, 1010)]);
    expect(texts(plan.keep)).to.deep.equal(['Dear Sir', 'Ref 42', 'Yours']);
    expect(plan.keep.find((l) => l.text === 'Ref 42')!.confidence).to.equal(0.99);
  });

  it('drops a cluster whose union another tile read whole although no piece alone is covered', () => {
    // A tall heading (100 px) cut by two interior edges, with a word gap of 50 px between the pieces;
    // the middle tile read it whole. Each piece is 79 % inside that reading, their union 83 %.
    const a: Rect = { x: 0, y: 0, width: 600, height: 400 };
    const c: Rect = { x: 400, y: 0, width: 500, height: 400 };
    const b: Rect = { x: 650, y: 0, width: 750, height: 400 };
    const plan = planMerge(1400, 400, [
      tile(a, line('ANNUAL', 500, 100, 600, 200)),
      tile(b, line('REPORT', 650, 100, 750, 200)),
      tile(c, line('ANNUAL REPORT', 521, 100, 729, 200)),
    ]);
    expect(plan.reread).to.deep.equal([]);
    expect(texts(plan.keep)).to.deep.equal(['ANNUAL REPORT']);
  });

  it('folds a whole reading that overlaps a region into the re-read, so text is read once', () => {
    // The right tile split the line at a word gap inside the overlap: a cut "n" and a whole "fox jumps"
    // that overlaps the left tile's cut piece; re-reading only the pieces would stop inside "fox".
    const plan = planMerge(W2, H2, [
      tile(LEFT, line('The quick brown fo', 600, 400, 1000, 440)),
      tile(RIGHT, line('n', 904, 400, 915, 440), line('fox jumps', 930, 400, 1300, 440), line('Other', 1500, 400, 1700, 440)),
    ]);
    expect(plan.reread).to.deep.equal([quad(600, 400, 1300, 440)]);
    expect(texts(plan.keep)).to.deep.equal(['Other']);
  });

  it('clamps re-read regions to the image', () => {
    const plan = planMerge(W2, H2, [tile(LEFT, line('edge', 800, -4, 1000, 30)), tile(RIGHT, line('edge', 904, -3, 1910, 31))]);
    expect(plan.reread).to.deep.equal([quad(800, 0, 1904, 31)]);
  });

  it('takes a line within the edge margin as cut, and honours a custom margin', () => {
    // 40 px high: the margin is half that, 20 px, unless a larger one is asked for.
    const near = [tile(LEFT, line('near', 800, 400, 981, 440)), tile(RIGHT)];
    expect(planMerge(W2, H2, near).reread).to.have.length(1);
    const apart = [tile(LEFT, line('apart', 800, 400, 975, 440)), tile(RIGHT)];
    expect(planMerge(W2, H2, apart).reread).to.have.length(0);
    expect(texts(planMerge(W2, H2, apart).keep)).to.deep.equal(['apart']);
    expect(planMerge(W2, H2, apart, { edgeMargin: 30 }).reread).to.have.length(1);
  });

  it('takes a box half its height from each interior edge as cut, one pixel further as whole', () => {
    const middle: Rect = { x: 100, y: 100, width: 100, height: 100 };
    // Every box is 20 px across the border it is near: a 10 px margin.
    const near = [
      line('l', 110, 140, 150, 160),
      line('t', 130, 110, 170, 130),
      line('r', 150, 140, 190, 160),
      line('b', 130, 170, 170, 190),
    ];
    const far = [
      line('l', 111, 140, 150, 160),
      line('t', 130, 111, 170, 131),
      line('r', 150, 140, 189, 160),
      line('b', 130, 169, 170, 189),
    ];
    for (const [i, l] of near.entries()) {
      const plan = planMerge(300, 300, [tile(middle, l)]);
      expect(plan.keep, `near ${l.text}`).to.deep.equal([]);
      expect(plan.reread, `near ${l.text}`).to.have.length(1);
      expect(planMerge(300, 300, [tile(middle, far[i]!)]).keep, `far ${l.text}`).to.have.length(1);
    }
  });

  it('joins the two clipped halves of a text that a small overlap let no tile see whole', () => {
    const top: Rect = { x: 0, y: 0, width: 1500, height: 500 };
    const bottom: Rect = { x: 0, y: 484, width: 1500, height: 516 };
    const plan = planMerge(1500, 1000, [
      tile(top, line('upper half', 100, 470, 300, 500)),
      tile(bottom, line('lower half', 105, 484, 298, 530)),
    ]);
    expect(plan.keep).to.deep.equal([]);
    expect(plan.reread).to.deep.equal([quad(100, 470, 300, 530)]);
  });

  it('re-reads each of many close lines that a vertical border cuts on its own, not their rows as one region', () => {
    // Lines 30 px apart whose boxes, padded by the detector, touch their neighbours: a column of
    // pieces that touch vertically, as two halves of one clipped text do, but no horizontal border
    // clipped any. Joined, 25 lines became one region, read as one line: 24 were lost.
    const rows = Array.from({ length: 25 }, (_, i) => 100 + i * 30);
    const plan = planMerge(W2, H2, [
      tile(LEFT, ...rows.map((y, i) => line(`left ${i}`, 100, y, 1000, y + 32))),
      tile(RIGHT, ...rows.map((y, i) => line(`right ${i}`, 904, y + 1, 1100, y + 33))),
    ]);
    expect(plan.keep).to.deep.equal([]);
    expect(plan.reread).to.deep.equal(rows.map((y) => quad(100, y, 1100, y + 33)));
  });

  it('drops the clipped reading of a line the neighbouring tile saw unclipped, without joining rows', () => {
    // Rows at 440..480 and 490..530; the border at 500 clips the second row in the top tile.
    const top: Rect = { x: 0, y: 0, width: 1500, height: 500 };
    const bottom: Rect = { x: 0, y: 400, width: 1500, height: 600 };
    const plan = planMerge(1500, 1000, [
      tile(top, line('first row', 100, 440, 700, 480), line('sec', 100, 490, 400, 500)),
      tile(bottom, line('first row', 100, 440, 700, 480), line('second row', 100, 490, 700, 530)),
    ]);
    expect(texts(plan.keep)).to.deep.equal(['first row', 'second row']);
    expect(plan.reread).to.deep.equal([]);
  });

  it('does not let a piece read whole elsewhere chain neighbours into a re-read', () => {
    // Each tile's cut piece is a line the other tile read whole; the two pieces are 5 px apart and
    // would otherwise join into a region spanning both lines.
    const plan = planMerge(W2, H2, [
      tile(LEFT, line('Tax', 880, 600, 925, 630), line('Subt', 930, 600, 1000, 630)),
      tile(RIGHT, line('x', 904, 600, 925, 630), line('Subtotal 12.50', 930, 600, 1010, 630)),
    ]);
    expect(texts(plan.keep)).to.deep.equal(['Subtotal 12.50', 'Tax']);
    expect(plan.reread).to.deep.equal([]);
  });

  it('on a skewed page, re-reads a cut line as one rotated line, not the rows its bounds would span', () => {
    // A page turned by about 4.4°: across 1000 px a line drops 77 px, over twice its 35 px height.
    const slope = Math.tan((4.4 * Math.PI) / 180);
    const skewed = (text: string, x0: number, x1: number, top: number): TileLine => ({
      text,
      confidence: 0.95,
      box: [
        [x0, top + x0 * slope],
        [x1, top + x1 * slope],
        [x1, top + x1 * slope + 35],
        [x0, top + x0 * slope + 35],
      ],
    });
    const rows = [300, 350, 400];
    const plan = planMerge(W2, H2, [
      tile(LEFT, ...rows.map((r) => skewed('left part', 500, 999, r))),
      tile(RIGHT, ...rows.map((r) => skewed('right part', 905, 1500, r))),
    ]);
    expect(plan.keep).to.deep.equal([]);
    expect(plan.reread).to.have.length(3);
    for (const region of plan.reread) {
      const [tl, tr, , bl] = region;
      expect(Math.atan2(tr[1] - tl[1], tr[0] - tl[0])).to.be.closeTo(Math.atan(slope), 1e-6);
      expect(Math.hypot(bl[0] - tl[0], bl[1] - tl[1])).to.be.closeTo(35 * Math.cos(Math.atan(slope)), 1);
      expect(Math.hypot(tr[0] - tl[0], tr[1] - tl[1])).to.be.greaterThan(1000);
    }
  });

  it('rejects a non-positive image size or a negative margin', () => {
    expect(() => planMerge(0, 10, [])).to.throw(OcrError, /image size must be positive/);
    expect(() => planMerge(10, 10, [], { edgeMargin: -1 })).to.throw(OcrError, /edgeMargin/);
  });
});
