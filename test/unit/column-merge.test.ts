import { expect } from 'chai';
import { mergeColumns } from '../../src/engine/detect/column-merge.js';
import type { Quad } from '../../src/engine/types.js';
import { mergeRowNeighbours } from '../../src/shared/row-merge.js';

const box = (x0: number, y0: number, x1: number, y1: number): Quad => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
];

/** n character boxes `size` wide stacked from (x, y), `gap` apart (negative: overlapping, as grown boxes do). */
const column = (x: number, y: number, n: number, size = 40, gap = 1): Quad[] =>
  Array.from({ length: n }, (_, i) => box(x, y + i * (size + gap), x + size, y + i * (size + gap) + size));

describe('mergeColumns', () => {
  it('joins the characters of a vertical line found one by one into one tall box', () => {
    const pieces = column(14, 7, 10, 41, -1);
    const out = mergeColumns(pieces);
    expect(out.quads).to.deep.equal([box(14, 7, 55, 408)]);
    // The pieces come with it, the same objects, for a column read too poorly to be kept.
    expect(out.columns).to.have.length(1);
    expect(out.columns[0]!.quad).to.equal(out.quads[0]);
    expect(out.columns[0]!.pieces).to.have.members(pieces);
  });

  it('joins each of two columns side by side, and leaves lines across the page as they are', () => {
    const heading = box(20, 0, 400, 30);
    const out = mergeColumns([heading, ...column(100, 60, 6), ...column(180, 60, 4)]).quads;
    expect(out).to.have.length(3);
    expect(out[0]).to.equal(heading);
    expect(out).to.deep.include(box(100, 60, 140, 305));
    expect(out).to.deep.include(box(180, 60, 220, 223));
  });

  it('leaves two characters one above the other, and stacks with wide gaps, apart', () => {
    const two = column(10, 10, 2);
    expect(mergeColumns(two).quads).to.deep.equal(two);
    const rows = column(10, 10, 5, 40, 20);
    expect(mergeColumns(rows).quads).to.deep.equal(rows);
  });

  it('leaves a table’s column of numbers alone: each shares a row with a line across', () => {
    const quantities = column(300, 10, 5, 30, 2);
    const items = quantities.map((q) => box(10, q[0][1], 280, q[2][1]));
    const quads = [...items, ...quantities];
    expect(mergeColumns(quads).quads).to.deep.equal(quads);
  });

  it('leaves boxes of different widths or out of line apart', () => {
    const ragged = [box(10, 10, 50, 50), box(30, 51, 70, 91), box(10, 92, 50, 132)];
    expect(mergeColumns(ragged).quads).to.deep.equal(ragged);
    const widths = [box(10, 10, 50, 50), box(10, 51, 30, 91), box(10, 92, 50, 132)];
    expect(mergeColumns(widths).quads).to.deep.equal(widths);
  });
});

describe('mergeRowNeighbours and vertical lines', () => {
  it('never joins a vertical line into a row, nor two vertical lines side by side', () => {
    const left = box(556, 135, 603, 539);
    const right = box(629, 134, 674, 418);
    const out = mergeRowNeighbours([left, right], 0.6);
    expect(out).to.deep.equal([left, right]);
    const word = box(480, 300, 545, 330);
    expect(mergeRowNeighbours([word, left], 0.6)).to.deep.equal([word, left]);
  });
});
