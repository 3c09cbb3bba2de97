import { expect } from 'chai';
import { OcrEngine } from '../../src/engine/index.js';
import type { OcrError } from '../../src/shared/errors.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { paddedPng } from '../support/hostile-images.js';

const MiB = 1024 * 1024;

/**
 * What a call holds of its image's file, counted. Calls waiting for memory may hold a quarter of the
 * budget in encoded bytes (Admission), a PNG's text-free copy included where its probe made one (a
 * PNG with EXIF, a comment and 6 MB of other chunks held 12 MB while counted as 6); an admitted
 * call's reservation covers the file and its copies where they outweigh its pixels.
 */
describe('encoded bytes of a call', function () {
  this.timeout(120_000);
  let engine: OcrEngine;
  before(async () => (engine = await OcrEngine.create({ workers: 1, detectorThreads: 1, memoryBudgetBytes: 64 * MiB })));
  after(async () => {
    await engine?.close();
  });

  it("count a PNG's text-free copy: a call past the quarter is refused, naming what the waiting ones hold", async () => {
    const copied = await paddedPng(6, true);
    const plain = await paddedPng(5, false);
    const all = engine.budget.tryReserve(engine.budget.limitBytes)!;
    const waiting = engine.recognize(copied);
    try {
      await waitFor(() => engine.budget.waiting === 1, 30_000, 'the call to wait for memory');
      // 6 MB waiting, 12 with its copy, and 5 MB more: past the 16 MiB a quarter of the budget allows.
      // Counted short, it would wait too: cancelled then, so that the test ends.
      const cancel = new AbortController();
      let settled = false;
      const second = engine.recognize(plain, { signal: cancel.signal }).then(
        () => null,
        (err: OcrError) => err,
      );
      void second.finally(() => (settled = true));
      await waitFor(() => settled || engine.budget.waiting === 2, 30_000, 'the second call to be refused or to wait');
      cancel.abort();
      const refused = await second;
      expect(refused?.code, refused?.message).to.equal('RESOURCE_EXHAUSTED');
      expect(refused!.message).to.match(/^server busy: the calls waiting for memory already hold 12 MiB of images; retry in \d+ ms/);
    } finally {
      all.release();
    }
    expect((await waiting).lines).to.deep.equal([]);
  });

  it('an admitted call reserves its file and copies where they outweigh its pixels (64×64 pixels in 6 MB reserved next to nothing)', async () => {
    const padded = await paddedPng(6, true);
    const reserved: number[] = [];
    const tryReserve = engine.budget.tryReserve.bind(engine.budget);
    engine.budget.tryReserve = (bytes, priority, what) => (reserved.push(bytes), tryReserve(bytes, priority, what));
    try {
      expect((await engine.recognize(padded)).lines).to.deep.equal([]);
    } finally {
      engine.budget.tryReserve = tryReserve;
    }
    // The file, the copy its probe dropped the comment from, and the copy posted to a worker.
    expect(reserved).to.have.length(1);
    expect(reserved[0]).to.be.at.least(3 * 6 * MiB);
  });
});
