import { expect } from 'chai';
import { sortReadingOrder } from '../../src/shared/reading-order.js';
import type { Point, Quad } from '../../src/engine/types.js';

interface Item {
  id: string;
  box: Quad;
}

/** An axis-aligned box, optionally turned by deg about (px, py) (the page rotation). */
function box(id: string, x: number, y: number, w: number, h: number, deg = 0, px = 500, py = 500): Item {
  const t = (deg * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  const turn = ([qx, qy]: Point): Point => [px + (qx - px) * c - (qy - py) * s, py + (qx - px) * s + (qy - py) * c];
  return { id, box: [turn([x, y]), turn([x + w, y]), turn([x + w, y + h]), turn([x, y + h])] };
}

/** Deterministic shuffle. */
function shuffled<T>(items: T[]): T[] {
  const out = items.slice();
  let seed = 7;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const ids = (items: Item[]): string[] => items.map((i) => i.id);

/** Three lines of four words spanning the page width, 40 px apart. */
function page(deg: number): Item[] {
  const items: Item[] = [];
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 4; c++) items.push(box(`r${r}c${c}`, 50 + c * 220, 100 + r * 40, 180, 24, deg));
  }
  return items;
}
const pageOrder = ['r0c0', 'r0c1', 'r0c2', 'r0c3', 'r1c0', 'r1c1', 'r1c2', 'r1c3', 'r2c0', 'r2c1', 'r2c2', 'r2c3'];

describe('sortReadingOrder', () => {
  it('orders an upright page row by row, left to right', () => {
    expect(ids(sortReadingOrder(shuffled(page(0))))).to.deep.equal(pageOrder);
  });

  for (const deg of [4, -4, 5, -5]) {
    it(`follows the text direction on a page turned by ${deg}°`, () => {
      // Across 840 px a 4° turn moves a line by ~59 px, more than the 40 px line pitch, so sorting
      // by plain y would interleave lines.
      const items = shuffled(page(deg));
      const byY = items.slice().sort((a, b) => a.box[0][1] - b.box[0][1]);
      expect(ids(byY)).to.not.deep.equal(pageOrder);
      expect(ids(sortReadingOrder(items))).to.deep.equal(pageOrder);
    });
  }

  it('groups table cells whose centres differ by less than half the smaller height into one row', () => {
    const items = [
      box('a1', 50, 100, 100, 20),
      box('b1', 200, 104, 100, 20), // centre 4 px lower: same row
      box('c1', 350, 97, 100, 20),
      box('a2', 50, 130, 100, 20),
      box('b2', 200, 127, 100, 20),
      box('c2', 350, 133, 100, 20),
    ];
    expect(ids(sortReadingOrder(shuffled(items)))).to.deep.equal(['a1', 'b1', 'c1', 'a2', 'b2', 'c2']);
  });

  it('keeps lines of a neighbouring column that sit half a line lower in their own rows', () => {
    // Left column lines at y 100, 130, 160; right column at 112, 142 (20 px tall: 12 ≥ 10).
    const items = [
      box('L0', 50, 100, 200, 20),
      box('L1', 50, 130, 200, 20),
      box('L2', 50, 160, 200, 20),
      box('R0', 300, 112, 200, 20),
      box('R1', 300, 142, 200, 20),
    ];
    expect(ids(sortReadingOrder(shuffled(items)))).to.deep.equal(['L0', 'R0', 'L1', 'R1', 'L2']);
  });

  it('measures the tolerance against the smaller box, so a small line next to a tall title is its own row', () => {
    const items = [box('title', 50, 100, 300, 60), box('note', 400, 142, 100, 16), box('side', 400, 112, 100, 16)];
    // Title centre 130. side centre 120: |10| < 8? no → own row. note centre 150: |20| ≥ 8 → own row.
    expect(ids(sortReadingOrder(items))).to.deep.equal(['side', 'title', 'note']);
  });

  it('returns a new array and leaves the input alone', () => {
    const input = shuffled(page(0));
    const copy = input.slice();
    const out = sortReadingOrder(input);
    expect(out).to.not.equal(input);
    expect(input).to.deep.equal(copy);
    expect(sortReadingOrder([])).to.deep.equal([]);
    const one = [box('x', 0, 0, 10, 10)];
    const sorted = sortReadingOrder(one);
    expect(sorted).to.deep.equal(one);
    expect(sorted).to.not.equal(one);
  });
});
