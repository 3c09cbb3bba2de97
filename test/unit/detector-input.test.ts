import { expect } from 'chai';
import { toDetectorTensor } from '../../src/engine/detect/detector.js';
import { detectorInputSize } from '../../src/engine/detect/input-size.js';
import type { DetectorSpec } from '../../src/engine/runtime/manifest.js';

describe('detector input', () => {
  it('scales large images down to the longest side, to multiples of 32', () => {
    const s = detectorInputSize(2480, 3508, { maxSideLen: 960, minSideLen: 0 }, 32);
    expect(s.height).to.equal(960);
    expect(s.width).to.equal(672); // 2480 · 960/3508 = 678.7 → 672
    expect(s.width % 32).to.equal(0);
  });

  it('never scales up unless asked to, and then caps the long side at twice the limit', () => {
    expect(detectorInputSize(280, 100, { maxSideLen: 960, minSideLen: 0 }, 32)).to.include({ width: 288, height: 96 });
    const up = detectorInputSize(280, 100, { maxSideLen: 960, minSideLen: 736 }, 32);
    expect(up.width).to.equal(1920); // 736/100 would be 7.36×; 2·960/280 = 6.86× wins
    expect(up.height).to.equal(672); // 685.7 → 672
  });

  it('does not scale up line and word images, whatever minSideLen asks', () => {
    // A line image 513 × 28, a word 35 × 30, a strip 300 × 100: their text is as large as they are.
    for (const [w, h] of [
      [513, 28],
      [35, 30],
      [300, 100],
    ] as const) {
      expect(detectorInputSize(w, h, { maxSideLen: 960, minSideLen: 512 }, 32), `${w}×${h}`).to.deep.equal(
        detectorInputSize(w, h, { maxSideLen: 960, minSideLen: 0 }, 32),
      );
    }
    // A small poster 323 × 430 is.
    expect(detectorInputSize(323, 430, { maxSideLen: 960, minSideLen: 512 }, 32)).to.deep.equal({ width: 512, height: 672 });
  });

  it('normalises per channel in the model channel order (BGR) into CHW planes', () => {
    const spec = { mean: [0.5, 0.25, 0], std: [0.5, 0.25, 1], channelOrder: 'BGR' } as unknown as DetectorSpec;
    // One pixel, R=255 G=0 B=51.
    const t = toDetectorTensor(Uint8Array.from([255, 0, 51]), 1, 1, spec);
    expect(t[0]).to.be.closeTo((51 / 255 - 0.5) / 0.5, 1e-6); // B plane first
    expect(t[1]).to.be.closeTo((0 - 0.25) / 0.25, 1e-6);
    expect(t[2]).to.be.closeTo(1, 1e-6); // R
  });
});
