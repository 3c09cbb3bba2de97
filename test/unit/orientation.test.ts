import { expect } from 'chai';
import {
  isSideways,
  isUpsideDown,
  lineDirection,
  lineDirections,
  quadToImage,
  quadToUpright,
  readsBetterTurned,
  toImagePoint,
  toUprightPoint,
  turnIsClear,
  turnedSize,
  votesSettled,
  ROTATIONS,
  type Rotation,
} from '../../src/engine/detect/orientation.js';
import { detectPage, type PageModels } from '../../src/engine/pipeline.js';
import type { DetectedBox, Point, Quad, RawImage } from '../../src/engine/types.js';

const box = (x0: number, y0: number, x1: number, y1: number): Quad => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
];

/** A box turned by `degrees` about its centre, corners ordered from the image's top-left as the detector orders them. */
function tilted(cx: number, cy: number, w: number, h: number, degrees: number): Quad {
  const a = (degrees * Math.PI) / 180;
  const corners: Point[] = [
    [-w / 2, -h / 2],
    [w / 2, -h / 2],
    [w / 2, h / 2],
    [-w / 2, h / 2],
  ].map(([x, y]) => [cx + x! * Math.cos(a) - y! * Math.sin(a), cy + x! * Math.sin(a) + y! * Math.cos(a)]);
  // Sorted by x as PaddleOCR's get_mini_boxes does: of a tall box tilted a little, its top two corners come first.
  const p = corners.sort((a, b) => a[0] - b[0]);
  const [tl, bl] = p[1]![1] > p[0]![1] ? [p[0]!, p[1]!] : [p[1]!, p[0]!];
  const [tr, br] = p[3]![1] > p[2]![1] ? [p[2]!, p[3]!] : [p[3]!, p[2]!];
  return [tl, tr, br, bl];
}

describe('page orientation', () => {
  describe('lineDirection and isSideways', () => {
    it('tells lines across from lines down the page, and says nothing of boxes near to square', () => {
      expect(lineDirection(box(0, 0, 300, 30))).to.deep.equal({ direction: 'across', length: 300 });
      expect(lineDirection(box(0, 0, 30, 300))).to.deep.equal({ direction: 'down', length: 300 });
      expect(lineDirection(box(0, 0, 40, 30))).to.equal(null);
      expect(lineDirection(box(0, 0, 30, 50))).to.equal(null);
    });

    it('judges a tall box tilted a few degrees by its sides, whatever the order of its corners', () => {
      // 96 × 1838 at 4°: its long sides lean further than it is wide, so its first two corners are its top end.
      const q = tilted(500, 1000, 96, 1838, 4);
      expect(Math.hypot(q[1][0] - q[0][0], q[1][1] - q[0][1])).to.be.greaterThan(1000);
      expect(lineDirection(q)?.direction).to.equal('down');
      expect(lineDirection(tilted(500, 1000, 1838, 96, -4))?.direction).to.equal('across');
    });

    it('takes a page as sideways when more of its line length runs down it, weighing lines by length', () => {
      const across = [box(0, 0, 400, 30), box(0, 40, 380, 70)];
      const down = [box(0, 0, 30, 400), box(40, 0, 70, 300), box(80, 0, 110, 320)];
      expect(isSideways(across)).to.equal(false);
      expect(isSideways(down)).to.equal(true);
      // Two long lines across outweigh three short ones down.
      expect(isSideways([...across, box(0, 100, 20, 150), box(30, 100, 50, 150), box(60, 100, 80, 150)])).to.equal(false);
      expect(lineDirections([...across, ...down])).to.deep.equal({ across: 780, down: 1020 });
    });

    it('does not turn a page without lines, nor one of single characters', () => {
      expect(isSideways([])).to.equal(false);
      expect(isSideways([box(0, 0, 30, 32), box(40, 0, 70, 33)])).to.equal(false);
    });
  });

  describe('isUpsideDown', () => {
    const v = (angle: number, score: number) => ({ angle, score });

    it('turns a page when sure votes say so', () => {
      expect(isUpsideDown([v(180, 1), v(180, 0.99), v(180, 0.98)])).to.equal(true);
      expect(isUpsideDown([v(180, 0.99), v(180, 0.97), v(0, 0.95), v(180, 1)])).to.equal(true);
    });

    it('keeps a page upright when the votes are upright, absent, or too few and unsure', () => {
      expect(isUpsideDown([v(0, 1), v(0, 0.99), v(0, 1)])).to.equal(false);
      expect(isUpsideDown([])).to.equal(false);
      // One line alone never turns a page, however sure.
      expect(isUpsideDown([v(180, 0.99)])).to.equal(false);
      // Unsure votes both ways (a photographed scene): more upside-down weight, but under half a sure vote per line.
      expect(isUpsideDown([v(0, 0.62), v(180, 0.76), v(0, 0.57), v(0, 0.53), v(0, 0.71), v(180, 0.88), v(180, 0.7), v(0, 0.71)])).to.equal(
        false,
      );
      expect(isUpsideDown([v(180, 0.87), v(0, 0.81)])).to.equal(false);
    });

    it('weighs each vote by how sure it is', () => {
      // Three unsure votes for upside down against two sure ones for upright.
      expect(isUpsideDown([v(180, 0.8), v(180, 0.8), v(180, 0.8), v(0, 1), v(0, 1)])).to.equal(false);
      expect(isUpsideDown([v(180, 1), v(180, 1), v(0, 0.6), v(0, 0.6)])).to.equal(true);
    });

    it('confirms a turn only when the lines read clearly better turned, each weighing by its area', () => {
      const lines = (area: number, ...pairs: [number, number][]) => pairs.map(([asIs, turned]) => ({ asIs, turned, area }));
      expect(readsBetterTurned(lines(100, [0.2, 0.95], [0, 0.9], [0.4, 0.99]))).to.equal(true);
      expect(readsBetterTurned(lines(100, [0.1, 0.25], [0.1, 0.2]))).to.equal(true);
      // An upright invoice 300 px wide: noise both ways, a little more confident turned.
      expect(readsBetterTurned(lines(100, [0.21, 0.26], [0.2, 0.25], [0.22, 0.24]))).to.equal(false);
      expect(readsBetterTurned(lines(100, [0.9, 0.2], [0.95, 0]))).to.equal(false);
      // Small lines reading better turned do not outweigh a large one reading upright.
      expect(readsBetterTurned([...lines(10, [0.2, 0.9], [0.3, 0.8]), ...lines(100, [0.94, 0])])).to.equal(false);
      expect(readsBetterTurned([])).to.equal(false);
    });

    it('takes a turn without a check only when no vote says upright and every line is tall', () => {
      expect(turnIsClear([v(180, 1), v(180, 0.95), v(180, 0.8)], [16, 30, 40], 3)).to.equal(true);
      expect(turnIsClear([v(180, 1), v(180, 1), v(180, 1)], [15, 30, 40], 3)).to.equal(false);
      expect(turnIsClear([v(180, 1), v(0, 0.6), v(180, 1), v(180, 1)], [30, 30, 30, 30], 3)).to.equal(false);
      expect(turnIsClear([v(180, 1), v(180, 1)], [30, 30], 3)).to.equal(false);
    });

    it('settles after the first votes only when they all agree and are sure', () => {
      expect(votesSettled([v(0, 1), v(0, 0.95), v(0, 0.99)], 3)).to.equal(true);
      expect(votesSettled([v(180, 1), v(180, 0.95), v(180, 0.99)], 3)).to.equal(true);
      expect(votesSettled([v(0, 1), v(180, 0.95), v(0, 0.99)], 3)).to.equal(false);
      expect(votesSettled([v(0, 1), v(0, 0.7), v(0, 0.99)], 3)).to.equal(false);
      expect(votesSettled([v(0, 1), v(0, 1)], 3)).to.equal(false);
    });
  });

  describe('quarter-turn maps', () => {
    /** The pixel index of (x, y) in a width × height image turned by `r` clockwise, as sharp's rotate turns it. */
    function turnedPixel([x, y]: Point, r: Rotation, width: number, height: number): Point {
      if (r === 90) return [height - 1 - y, x];
      if (r === 180) return [width - 1 - x, height - 1 - y];
      if (r === 270) return [y, width - 1 - x];
      return [x, y];
    }

    it('maps pixels of the upright page onto the pixels of the image that shows it turned', () => {
      // The upright page is 5 × 3; the image shows it turned by r.
      for (const r of ROTATIONS) {
        const image = turnedSize(5, 3, r);
        for (const p of [
          [0, 0],
          [4, 0],
          [2, 1],
          [4, 2],
        ] as Point[]) {
          expect(toImagePoint(p, r, image.width, image.height), `r=${r} ${p.join(',')}`).to.deep.equal(turnedPixel(p, r, 5, 3));
          expect(toUprightPoint(toImagePoint(p, r, image.width, image.height), r, image.width, image.height)).to.deep.equal(p);
        }
      }
    });

    it('keeps the text’s top-left first: a quad as the detector orders it in the image comes back as the upright page’s', () => {
      const upright = box(10, 20, 90, 30);
      for (const r of ROTATIONS) {
        const image = turnedSize(100, 50, r);
        const inImage = quadToImage(upright, r, image.width, image.height);
        // As the detector orders corners: by x, the upper of each pair first.
        const xs = inImage.map((p) => p[0]);
        const ys = inImage.map((p) => p[1]);
        const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
        expect(quadToUpright(box(x0, y0, x1, y1), r, image.width, image.height), `r=${r}`).to.deep.equal(upright);
      }
    });

    it('gives the size of the upright page', () => {
      expect(turnedSize(100, 50, 0)).to.deep.equal({ width: 100, height: 50 });
      expect(turnedSize(100, 50, 90)).to.deep.equal({ width: 50, height: 100 });
      expect(turnedSize(100, 50, 180)).to.deep.equal({ width: 100, height: 50 });
      expect(turnedSize(100, 50, 270)).to.deep.equal({ width: 50, height: 100 });
    });
  });

  describe('detectPage', () => {
    const image: RawImage = { data: new Uint8Array(200 * 100 * 3), width: 200, height: 100, channels: 3 };
    const boxes = (...quads: Quad[]): DetectedBox[] => quads.map((quad) => ({ quad, score: 0.9 }));
    const wide = boxes(box(10, 10, 190, 30), box(10, 40, 150, 60), box(10, 70, 170, 90));
    const tall = boxes(box(10, 5, 30, 95), box(40, 5, 60, 80), box(70, 5, 90, 90));

    /**
     * Models that find `found[turn]`, whose classifier answers `angle` with `score`, and whose
     * recognizer reads its first batch (lines as they stand) with confidence `reads[0]` and its
     * second (turned) with `reads[1]`; what they were asked is logged.
     */
    function models(
      found: Partial<Record<Rotation, DetectedBox[]>>,
      angle: number,
      score = 0.99,
      log: string[] = [],
      reads: [number, number] = [0.3, 0.95],
    ): PageModels {
      let batches = 0;
      return {
        detect: (_image, _options, turn) => {
          log.push(`detect ${turn}`);
          return Promise.resolve(found[turn] ?? []);
        },
        recognizer: {
          inputHeight: 48,
          maxWidth: 320,
          recognizeBatch: (crops) => {
            log.push(`recognize ${crops.length}`);
            const confidence = reads[Math.min(batches++, 1)]!;
            return Promise.resolve(crops.map(() => ({ text: 'x', confidence })));
          },
        },
        batchSize: 16,
        classifier: {
          inputHeight: 48,
          inputWidth: 192,
          threshold: 0.9,
          classify: (crops) => {
            log.push(`classify ${crops.length}`);
            return Promise.resolve(crops.map(() => ({ angle, score })));
          },
        },
      };
    }
    const options = {
      maxSideLen: 960,
      minSideLen: 0,
      db: { thresh: 0.3, boxThresh: 0.6, unclipRatio: 1.5, maxCandidates: 1000, minSize: 3 },
    };

    it('costs an upright page one classifier pass over three lines', async () => {
      const log: string[] = [];
      const page = await detectPage(models({ 0: wide }, 0, 0.99, log), image, options, true);
      expect(page.rotation).to.equal(0);
      expect(page.boxes).to.deep.equal(wide);
      expect(log).to.deep.equal(['detect 0', 'classify 3']);
    });

    it('detects an upside-down page again turned upright', async () => {
      const log: string[] = [];
      const upright = boxes(box(9, 69, 189, 89));
      const page = await detectPage(models({ 0: wide, 180: upright }, 180, 0.99, log), image, options, true);
      expect(page.rotation).to.equal(180);
      expect(page.boxes).to.equal(upright);
      expect(log).to.deep.equal(['detect 0', 'classify 3', 'detect 180']);
    });

    // Lines 8 px high, under CLEAR_LINE_HEIGHT: the classifier's word is checked by the recognizer.
    const small = boxes(box(10, 10, 190, 18), box(10, 40, 150, 48), box(10, 70, 170, 78));

    it('turns a page of small lines the classifier calls upside down when they read clearly better turned', async () => {
      const log: string[] = [];
      const page = await detectPage(models({ 0: small, 180: small }, 180, 0.99, log, [0.3, 0.95]), image, options, true);
      expect(page.rotation).to.equal(180);
      expect(log).to.deep.equal(['detect 0', 'classify 3', 'recognize 3', 'recognize 3', 'detect 180']);
    });

    it('keeps a page of small lines upright that the classifier calls upside down when they read no better turned', async () => {
      const log: string[] = [];
      const page = await detectPage(models({ 0: small, 180: small }, 180, 0.99, log, [0.45, 0.5]), image, options, true);
      expect(page.rotation).to.equal(0);
      expect(page.boxes).to.equal(small);
      expect(log).to.deep.equal(['detect 0', 'classify 3', 'recognize 3', 'recognize 3']);
    });

    it('detects a sideways page again turned upright, then votes on its lines', async () => {
      const log: string[] = [];
      const upright = boxes(box(5, 10, 95, 30), box(5, 40, 80, 60), box(5, 70, 90, 90));
      expect((await detectPage(models({ 0: tall, 270: upright }, 0, 0.99, log), image, options, true)).rotation).to.equal(90);
      expect(log).to.deep.equal(['detect 0', 'detect 270', 'classify 3']);
      log.length = 0;
      const turned = await detectPage(models({ 0: tall, 270: upright, 90: wide }, 180, 0.99, log), image, options, true);
      expect(turned.rotation).to.equal(270);
      expect(turned.boxes).to.equal(wide);
      expect(log).to.deep.equal(['detect 0', 'detect 270', 'classify 3', 'detect 90']);
    });

    it('leaves a page that looks sideways both ways as it is', async () => {
      const page = await detectPage(models({ 0: tall, 270: tall }, 0), image, options, true);
      expect(page.rotation).to.equal(0);
      expect(page.boxes).to.equal(tall);
    });

    it('looks at up to twelve lines when the first three do not settle it', async () => {
      const log: string[] = [];
      const many = boxes(...Array.from({ length: 20 }, (_, i) => box(10, i * 5, 150, i * 5 + 4)));
      await detectPage(models({ 0: many }, 0, 0.7, log), image, options, true);
      expect(log).to.deep.equal(['detect 0', 'classify 3', 'classify 9']);
    });

    it('does nothing more than detect when auto-rotation is off', async () => {
      const log: string[] = [];
      const page = await detectPage(models({ 0: tall }, 180, 1, log), image, options, false);
      expect(page).to.deep.equal({ boxes: tall, rotation: 0, classifyMs: 0 });
      expect(log).to.deep.equal(['detect 0']);
    });
  });
});
