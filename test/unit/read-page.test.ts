import { expect } from 'chai';
import type { DetectOptions } from '../../src/engine/detect/detector.js';
import { readPage, type LinesRead, type PageStages } from '../../src/engine/pipeline.js';
import type { Quad } from '../../src/engine/types.js';

const box = (x0: number, y0: number, x1: number, y1: number): Quad => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
];

/** Three boxes of one width stacked close: what mergeColumns joins into a column. */
const stack = [box(100, 100, 140, 140), box(100, 141, 140, 181), box(100, 182, 140, 222)];
/** A line across the page, away from the stack's rows. */
const heading = box(20, 20, 400, 50);

const tall = (q: Quad): boolean => q[2][1] - q[0][1] > 2 * (q[2][0] - q[0][0]);

/**
 * Stand-in stages over a 500×400 page, upright: the detector finds `heading` and `stack`; the
 * recognizer reads a tall quad (the joined column) with `columnConfidence`, every other quad
 * surely, naming it by its top edge.
 */
function stages(columnConfidence: number, reads: Quad[][]): PageStages<string> {
  return {
    decode: () => Promise.resolve({ image: 'page', width: 500, height: 400, decodeMs: 0 }),
    detect: () =>
      Promise.resolve({
        value: { boxes: [heading, ...stack].map((quad) => ({ quad, score: 0.9 })), rotation: 0, classifyMs: 0 },
        elapsedMs: 0,
        waitMs: 0,
      }),
    readLines: (_image, quads): Promise<LinesRead> => {
      reads.push(quads);
      return Promise.resolve({
        lines: quads.map((q) =>
          tall(q) ? { text: '1 22 30', confidence: columnConfidence, angle: 0 } : { text: `y${q[0][1]}`, confidence: 0.99, angle: 0 },
        ),
        waitMs: 0,
        classifyMs: 0,
        recognizeMs: 0,
      });
    },
  };
}

const settings = {
  detect: {} as DetectOptions,
  autoRotate: true,
  rowMergeGap: 0.6,
  minConfidence: 0,
};

describe('readPage', () => {
  it('keeps a joined column that reads surely, as one vertical line', async () => {
    const reads: Quad[][] = [];
    const result = await readPage(stages(0.95, reads), settings);
    expect(result.lines.map((l) => l.text)).to.have.members(['y20', '1 22 30']);
    expect(reads).to.have.length(1);
  });

  it('reads a joined column that reads poorly again as its pieces (the cells of a table), and keeps those', async () => {
    const reads: Quad[][] = [];
    const result = await readPage(stages(0.58, reads), settings);
    expect(result.lines.map((l) => l.text)).to.deep.equal(['y20', 'y100', 'y141', 'y182']);
    expect(reads).to.have.length(2);
    expect(reads[1]).to.deep.equal(stack);
  });
});
