import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { expect } from 'chai';
import { makeNode } from '../../src/engine/onnx-graph/model.js';
import { rewriteModel } from '../../src/engine/onnx-graph/rewrite.js';
import type { RewriteSpec } from '../../src/engine/onnx-graph/rewrite-spec.js';
import {
  cacheFileName,
  cacheKey,
  modelDigest,
  shippedDigest,
  defaultModelCacheDir,
  loadModel,
  MODEL_CACHE_ENV,
  prepareModel,
  rewriteVersion,
  writeAtomically,
} from '../../src/engine/runtime/model-cache.js';
import { buildModel } from '../support/onnx-model.js';

const greedy: RewriteSpec = { simplify: false, precision: 'float32', greedyHead: true, reduceRange: false };

describe('model cache', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-model-cache-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A small "recognizer": one output of class probabilities, which the greedy head reduces. */
  const shipped = buildModel([makeNode('Softmax', ['x'], 'p')], 'x', 'p');
  const shippedFile = (): string => {
    const file = path.join(dir, 'rec.onnx');
    writeFileSync(file, shipped);
    return file;
  };

  describe('its key', () => {
    const key = cacheKey(modelDigest(shipped), greedy, 'v1');

    it('changes with the model, every rewrite option and the rewriting code', () => {
      const flipped = Uint8Array.from(shipped);
      flipped[flipped.length - 1] ^= 1;
      const int8: RewriteSpec = { ...greedy, precision: 'int8' };
      const variants = {
        model: cacheKey(modelDigest(flipped), greedy, 'v1'),
        simplify: cacheKey(modelDigest(shipped), { ...greedy, simplify: true }, 'v1'),
        precision: cacheKey(modelDigest(shipped), int8, 'v1'),
        greedyHead: cacheKey(modelDigest(shipped), { ...greedy, greedyHead: false }, 'v1'),
        'reduceRange in int8': cacheKey(modelDigest(shipped), { ...int8, reduceRange: true }, 'v1'),
        version: cacheKey(modelDigest(shipped), greedy, 'v2'),
      };
      for (const [input, other] of Object.entries(variants)) expect(other, input).to.not.equal(key);
      expect(new Set(Object.values(variants)).size).to.equal(Object.keys(variants).length);
      expect(cacheKey(modelDigest(Uint8Array.from(shipped)), { ...greedy }, 'v1'), 'the same inputs').to.equal(key);
    });

    it('is the same on every CPU for a float model: reduceRange only shapes int8 weights', () => {
      expect(cacheKey(modelDigest(shipped), { ...greedy, reduceRange: true }, 'v1')).to.equal(key);
    });

    it('takes the version from the compiled rewriting code', () => {
      expect(rewriteVersion()).to.match(/^[0-9a-f]{64}$/);
      expect(cacheKey(modelDigest(shipped), greedy)).to.equal(cacheKey(modelDigest(shipped), greedy, rewriteVersion()));
      expect(cacheFileName('/m/ch_rec.onnx', modelDigest(shipped), greedy)).to.match(/^ch_rec\.float32\.[0-9a-f]{32}\.onnx$/);
    });

    it('lives in $OCR_MODEL_CACHE, else in the package', () => {
      expect(defaultModelCacheDir({ [MODEL_CACHE_ENV]: '/var/cache/ocr' })).to.equal('/var/cache/ocr');
      expect(defaultModelCacheDir({})).to.match(/[/\\]\.cache[/\\]models$/);
    });
  });

  describe('writeAtomically', () => {
    it('creates the directory, replaces the file whole and leaves no temporary file', () => {
      const target = path.join(dir, 'a', 'b', 'model.onnx');
      writeAtomically(target, Uint8Array.of(1, 2, 3));
      writeAtomically(target, Uint8Array.of(4, 5));
      expect(Array.from(readFileSync(target))).to.deep.equal([4, 5]);
      expect(readdirSync(path.dirname(target))).to.deep.equal(['model.onnx']);
    });

    it('throws when it cannot write, and leaves nothing behind', () => {
      const blocked = path.join(dir, 'file');
      writeFileSync(blocked, '');
      expect(() => writeAtomically(path.join(blocked, 'model.onnx'), Uint8Array.of(1))).to.throw(/ENOTDIR|EEXIST/);
      // The rename fails onto a directory: the temporary file it wrote is removed.
      const target = path.join(dir, 'taken.onnx');
      mkdirSync(path.join(target, 'inside'), { recursive: true });
      expect(() => writeAtomically(target, Uint8Array.of(1))).to.throw();
      expect(readdirSync(dir).sort()).to.deep.equal(['file', 'taken.onnx']);
    });

    it('never shows a reader part of a file while writers in other threads replace it', async function () {
      this.timeout(30_000);
      const target = path.join(dir, 'shared.onnx');
      const size = 4 * 1024 * 1024;
      writeAtomically(target, new Uint8Array(size).fill(1));
      const moduleUrl = new URL('../../src/engine/runtime/model-cache.js', import.meta.url).href;
      // Each writer rewrites the file with its own byte, over and over.
      const source = `
        const { workerData } = require('node:worker_threads');
        import(workerData.moduleUrl).then(({ writeAtomically }) => {
          for (let i = 0; i < 15; i++) writeAtomically(workerData.target, new Uint8Array(workerData.size).fill(workerData.fill));
        });`;
      const writers = [2, 3].map((fill) => new Worker(source, { eval: true, workerData: { moduleUrl, target, size, fill } }));
      const done = Promise.all(writers.map((w) => new Promise((resolve, reject) => w.once('exit', resolve).once('error', reject))));
      let finished = false;
      void done.then(() => (finished = true));
      let reads = 0;
      while (!finished) {
        const bytes = readFileSync(target);
        expect(bytes.length).to.equal(size);
        expect(bytes.equals(Buffer.alloc(size, bytes[0]))).to.equal(true);
        reads++;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await done;
      expect(reads).to.be.greaterThan(0);
      expect(readdirSync(dir)).to.deep.equal(['shared.onnx']);
    });
  });

  describe("the shipped files' digests", () => {
    it('reads and hashes a shipped file once; later starts take its digest from the index', () => {
      const file = shippedFile();
      const cacheDir = path.join(dir, 'cache');
      const first = shippedDigest(file, cacheDir);
      expect(first.digest).to.equal(modelDigest(shipped));
      expect(first.bytes, 'read the first time').to.not.equal(undefined);
      const again = shippedDigest(file, cacheDir);
      expect(again).to.deep.equal({ digest: first.digest });
    });

    it('hashes a file again once it has changed, even to the same size with its old modification time', () => {
      const file = shippedFile();
      const cacheDir = path.join(dir, 'cache');
      shippedDigest(file, cacheDir);
      const { mtime } = statSync(file);
      const flipped = Uint8Array.from(shipped);
      flipped[flipped.length - 1] ^= 1;
      writeFileSync(file, flipped);
      utimesSync(file, mtime, mtime);
      const changed = shippedDigest(file, cacheDir);
      expect(changed.digest).to.equal(modelDigest(flipped));
      expect(changed.bytes).to.not.equal(undefined);
    });
  });

  describe('prepareModel', () => {
    it('rewrites into the cache once; later it finds the file and rewrites nothing', async () => {
      const file = shippedFile();
      const cacheDir = path.join(dir, 'cache');
      const first = await prepareModel(file, greedy, cacheDir);
      expect(first.outcome).to.equal('written');
      const cached = first.source.cached!;
      expect(path.dirname(cached)).to.equal(cacheDir);
      expect(Buffer.compare(readFileSync(cached), Buffer.from(rewriteModel(shipped, greedy)))).to.equal(0);
      const written = statSync(cached).mtimeMs;
      const second = await prepareModel(file, greedy, cacheDir);
      expect(second).to.deep.equal({ source: { file, spec: greedy, cached }, outcome: 'cached' });
      expect(statSync(cached).mtimeMs).to.equal(written);
      expect(Buffer.compare(Buffer.from(await loadModel(second.source)), readFileSync(cached))).to.equal(0);
    });

    it('a changed model file gets a file of its own', async () => {
      const file = shippedFile();
      const cacheDir = path.join(dir, 'cache');
      const before = (await prepareModel(file, greedy, cacheDir)).source.cached;
      writeFileSync(file, buildModel([makeNode('Softmax', ['x'], 'q')], 'x', 'q'));
      const after = await prepareModel(file, greedy, cacheDir);
      expect(after.outcome).to.equal('written');
      expect(after.source.cached).to.not.equal(before);
    });

    it('keeps the rewrite in memory where the cache cannot be written, and strict refuses', async () => {
      const file = shippedFile();
      const blocked = path.join(dir, 'not-a-directory');
      writeFileSync(blocked, '');
      const prepared = await prepareModel(file, greedy, path.join(blocked, 'cache'));
      expect(prepared.outcome).to.equal('in memory');
      expect(prepared.reason).to.match(/cannot write .*not-a-directory/);
      expect(prepared.source.cached).to.equal(null);
      expect(Buffer.compare(Buffer.from(await loadModel(prepared.source)), Buffer.from(rewriteModel(shipped, greedy)))).to.equal(0);
      await prepareModel(file, greedy, path.join(blocked, 'cache'), { strict: true }).then(
        () => expect.fail('strict should refuse'),
        (err: Error) => expect(err.message).to.match(/cannot write/),
      );
      expect((await prepareModel(file, greedy, null)).outcome, 'no cache at all').to.equal('in memory');
    });

    it('leaves a model that nothing rewrites as shipped', async () => {
      const file = shippedFile();
      const plain: RewriteSpec = { ...greedy, greedyHead: false };
      const prepared = await prepareModel(file, plain, path.join(dir, 'cache'));
      expect(prepared).to.deep.equal({ source: { file, spec: plain, cached: null }, outcome: 'as shipped' });
      expect(Buffer.compare(Buffer.from(await loadModel(prepared.source)), Buffer.from(shipped))).to.equal(0);
    });

    it('a worker whose cache file was removed rewrites the model itself', async () => {
      const file = shippedFile();
      const { source } = await prepareModel(file, greedy, path.join(dir, 'cache'));
      unlinkSync(source.cached!);
      expect(Buffer.compare(Buffer.from(await loadModel(source)), Buffer.from(rewriteModel(shipped, greedy)))).to.equal(0);
    });
  });
});
