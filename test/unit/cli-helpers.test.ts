import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { status as Status } from '@grpc/grpc-js';

import { describeError, failure, namingImage } from '../../src/cli/file-result.js';
import { planBatches } from '../../src/cli/line-batches.js';
import { MAX_INPUT_BYTES, readInput } from '../../src/cli/read-input.js';
import { runInOrder } from '../../src/cli/run-in-order.js';
import { failureLine } from '../../src/cli/text-listing.js';
import { OcrCallError } from '../../src/client/errors.js';
import { invalidArgument } from '../../src/shared/errors.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('ocr recognize helpers', () => {
  describe('runInOrder', () => {
    it('emits in input order as soon as each prefix is done, within the concurrency bound', async () => {
      const delays = [40, 5, 5, 30, 5, 5];
      const emitted: Array<[number, number]> = [];
      let running = 0;
      let peak = 0;
      const start = Date.now();
      await runInOrder(
        delays,
        3,
        async (delay, index) => {
          peak = Math.max(peak, ++running);
          await sleep(delay);
          running--;
          return index * 10;
        },
        (result, index) => emitted.push([index, result]),
      );
      expect(emitted).to.deep.equal([
        [0, 0],
        [1, 10],
        [2, 20],
        [3, 30],
        [4, 40],
        [5, 50],
      ]);
      expect(peak).to.equal(3);
      expect(Date.now() - start).to.be.lessThan(delays.reduce((a, b) => a + b, 0));
    });

    it('does not hold back results behind later slow jobs', async () => {
      const emittedAt: number[] = [];
      const start = Date.now();
      await runInOrder(
        [5, 200],
        2,
        (delay) => sleep(delay),
        () => emittedAt.push(Date.now() - start),
      );
      expect(emittedAt[0]).to.be.lessThan(100);
    });

    it('handles no jobs', async () => {
      let emitted = 0;
      await runInOrder(
        [],
        4,
        async () => 1,
        () => emitted++,
      );
      expect(emitted).to.equal(0);
    });
  });

  describe('planBatches', () => {
    it('cuts consecutive runs by count and by bytes', () => {
      expect(planBatches([1, 1, 1, 1, 1], 2, 100)).to.deep.equal([[0, 1], [2, 3], [4]]);
      expect(planBatches([40, 40, 40, 10], 32, 100)).to.deep.equal([
        [0, 1],
        [2, 3],
      ]);
    });

    it('sends a file over the byte budget alone', () => {
      expect(planBatches([10, 500, 10], 32, 100)).to.deep.equal([[0], [1], [2]]);
    });

    it('plans nothing for no files', () => {
      expect(planBatches([], 32, 100)).to.deep.equal([]);
    });
  });

  describe('describeError', () => {
    it('names gRPC, OCR and file-system failures by gRPC status name', () => {
      expect(describeError(new OcrCallError(Status.RESOURCE_EXHAUSTED, 'too big'))).to.deep.equal({
        code: 'RESOURCE_EXHAUSTED',
        message: 'too big',
      });
      expect(describeError(invalidArgument('bad tile'))).to.deep.equal({ code: 'INVALID_ARGUMENT', message: 'bad tile' });
      const enoent = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT', syscall: 'open' });
      expect(describeError(enoent).code).to.equal('NOT_FOUND');
      const eacces = Object.assign(new Error('EACCES'), { code: 'EACCES', syscall: 'open' });
      expect(describeError(eacces).code).to.equal('PERMISSION_DENIED');
      expect(describeError(new Error('boom'))).to.deep.equal({ code: 'UNKNOWN', message: 'boom' });
    });

    it('maps numbers outside gRPC to UNKNOWN', () => {
      expect(new OcrCallError(99, 'odd').code).to.equal('UNKNOWN');
    });
  });

  describe('namingImage', () => {
    it("names a tiled file's failure by the file, and the tile size by this command's option", () => {
      const err = new OcrCallError(
        Status.RESOURCE_EXHAUSTED,
        "image '4f0c' tile 0 (2048x2048) needs about 48.0 MiB to decode beside its image's 9000x9000 canvas (231.7 MiB), " +
          "more than this server's whole memory budget of 256 MiB (--memory-budget-mb) holds at once, so no retry can fit " +
          "it; send tiles of at most 1298 px a side (the SDK's tileSize), or use a server with a larger --memory-budget-mb",
      );
      const { message } = namingImage(failure('scan.tiff', err), '4f0c').error;
      expect(message).to.match(/^image 'scan\.tiff' tile 0 /);
      expect(message).to.contain('send tiles of at most 1298 px a side (--tile-size 1298)');
    });
  });

  describe('readInput', () => {
    it('refuses a file over the most any server accepts by its size', async () => {
      const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-')), 'huge.png');
      // Sparse: no disk is spent. Its size refuses it ("it holds N bytes"): read, it would take 2 GiB of memory.
      writeFileSync(file, '');
      truncateSync(file, MAX_INPUT_BYTES + 1);
      try {
        const err: unknown = await readInput(file, 1000).then(
          () => expect.fail('read a 2 GiB file'),
          (e: unknown) => e,
        );
        expect(describeError(err)).to.deep.equal({
          code: 'RESOURCE_EXHAUSTED',
          message:
            'it holds 2146435073 bytes, more than the 2047 MiB any server accepts in one image: scale the image down, or cut it into parts and read each',
        });
      } finally {
        rmSync(path.dirname(file), { recursive: true });
      }
    });
  });

  describe('failureLine', () => {
    it("keeps a failure on one line, however many lines its message has (libvips's write errors have several)", () => {
      const message =
        'could not write out/a.png.annotated.png: out/a.png.annotated.png: unable to open for write\nsystem error: Permission denied\n';
      expect(failureLine({ file: 'a.png', error: { code: 'INTERNAL', message } })).to.equal(
        'a.png: INTERNAL: could not write out/a.png.annotated.png: out/a.png.annotated.png: unable to open for write; system error: Permission denied\n',
      );
    });
  });
});
