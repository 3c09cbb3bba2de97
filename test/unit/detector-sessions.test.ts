import { expect } from 'chai';
import ort from 'onnxruntime-node';
import { Detector } from '../../src/engine/detect/detector.js';
import { DEFAULT_MANIFEST, loadManifest } from '../../src/engine/runtime/manifest.js';
import type { Session } from '../../src/engine/runtime/sessions.js';
import type { RawImage } from '../../src/engine/types.js';

/** A stand-in session that records the input shapes it ran on and answers an empty text map. */
function recordingSession(shapes: number[][]): Session {
  const fake = {
    inputNames: ['x'],
    outputNames: ['map'],
    run: async (feeds: Record<string, ort.Tensor>) => {
      const dims = [...feeds.x!.dims];
      shapes.push(dims);
      const [, , h, w] = dims as [number, number, number, number];
      return { map: new ort.Tensor('float32', new Float32Array(h * w), [1, 1, h, w]) };
    },
  };
  return fake as unknown as Session;
}

describe('detector sessions', () => {
  const manifest = loadManifest(DEFAULT_MANIFEST);
  const image: RawImage = { data: new Uint8Array(1600 * 1200 * 3).fill(255), width: 1600, height: 1200, channels: 3 };

  it('runs inputs up to the bounded size on the arena session and larger ones on the other', async () => {
    const bounded: number[][] = [];
    const unbounded: number[][] = [];
    const detector = new Detector(
      { bounded: recordingSession(bounded), unbounded: recordingSession(unbounded), boundedPixels: 960 * 960 },
      manifest.det,
    );
    await detector.detect(image, { maxSideLen: 960, minSideLen: 0, db: manifest.det.db });
    await detector.detect(image, { maxSideLen: 1600, minSideLen: 0, db: manifest.det.db });
    expect(bounded).to.deep.equal([[1, 3, 736, 960]]);
    expect(unbounded).to.deep.equal([[1, 3, 1216, 1600]]);
  });

  it('runs default-sized inputs on the parallel session only when the worker is alone', async () => {
    const [bounded, parallel, unbounded]: number[][][] = [[], [], []];
    const detector = new Detector(
      {
        bounded: recordingSession(bounded),
        boundedParallel: recordingSession(parallel),
        unbounded: recordingSession(unbounded),
        boundedPixels: 960 * 960,
      },
      manifest.det,
    );
    const options = { maxSideLen: 960, minSideLen: 0, db: manifest.det.db };
    await detector.detect(image, options, true);
    await detector.detect(image, options, false);
    await detector.detect(image, { ...options, maxSideLen: 1600 }, true);
    expect(parallel).to.deep.equal([[1, 3, 736, 960]]);
    expect(bounded).to.deep.equal([[1, 3, 736, 960]]);
    expect(unbounded).to.deep.equal([[1, 3, 1216, 1600]]);
  });
});
