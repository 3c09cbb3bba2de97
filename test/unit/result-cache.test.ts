import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { expect } from 'chai';
import { pino } from 'pino';
import type { RecognizeRequest, RecognizeResponse } from '../../src/gen/ocr/v1/ocr.js';
import type { OcrEngine } from '../../src/engine/index.js';
import { freePort } from '../../src/dev/free-port.js';
import { waitFor } from '../../src/dev/wait-for.js';
import type { ServiceContext } from '../../src/server/call-context.js';
import type { Logger } from '../../src/server/logger.js';
import type { OcrHandlers } from '../../src/server/ocr-handlers.js';
import { parseCacheBackend, redactedUrl } from '../../src/server/result-cache-config.js';
import {
  engineIdentity,
  resolveOptions,
  resultKey,
  ResultCache,
  withResultCache,
  type ResolvedOptions,
} from '../../src/server/result-cache.js';
import { RedisStore } from '../../src/server/redis-store.js';
import { MemoryStore, TieredStore, type ResultStore, type StoredEntry } from '../../src/server/result-store.js';
import { StoreDown } from '../../src/server/store-down.js';
import { OcrError } from '../../src/shared/errors.js';
import { idleMetrics } from '../support/idle-metrics.js';

const DEFAULTS: ResolvedOptions = {
  maxSideLen: 960,
  minSideLen: 0,
  boxThreshold: 0.6,
  unclipRatio: 1.5,
  useAngleCls: false,
  minConfidence: 0.5,
  autoRotate: true,
};

/** Stand-ins for the files an engine runs, by their text: its identity hashes their bytes. */
const MODEL_DIR = mkdtempSync(path.join(os.tmpdir(), 'result-cache-models-'));
function modelFile(role: string, text: string): string {
  const file = path.join(MODEL_DIR, `${role}-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`);
  writeFileSync(file, text);
  return file;
}

/** What the cache reads of an engine: its defaults, identity and manifest. */
function fakeEngine(
  over: {
    recVersion?: string;
    precision?: 'int8' | 'float32';
    boxThresh?: number;
    rowMergeGap?: number;
    recBytes?: string;
    dictionary?: string;
  } = {},
): OcrEngine {
  const det = {
    file: 'det.onnx',
    version: 'v4',
    sizeMultiple: 32,
    db: { thresh: 0.3, boxThresh: over.boxThresh ?? 0.6, unclipRatio: 1.5 },
  };
  const rec = { file: 'rec.onnx', version: over.recVersion ?? 'v4', inputHeight: 48 };
  return {
    config: {
      defaults: DEFAULTS,
      rowMergeGap: over.rowMergeGap ?? 0.5,
      simplifyGraphs: true,
      recPrecision: over.precision ?? 'int8',
      modelCacheDir: null,
    },
    manifest: {
      name: 'ppocr-v4',
      det,
      cls: null,
      rec,
      paths: {
        det: modelFile('det', 'detector weights'),
        cls: null,
        rec: modelFile('rec', over.recBytes ?? 'recognizer weights'),
        dictionary: modelFile('dictionary', over.dictionary ?? 'a\nb\n'),
      },
    },
    info: () => ({
      manifest: 'ppocr-v4',
      models: [
        { role: 'det', file: 'det.onnx', version: 'v4', precision: 'float32' },
        { role: 'rec', file: 'rec.onnx', version: over.recVersion ?? 'v4', precision: over.precision ?? 'int8' },
      ],
      dictionarySize: 6623,
      workers: 2,
      threadsPerWorker: 1,
      limits: { maxPixels: 40_000_000, minSide: 8, memoryBudgetBytes: 1, maxWaitMs: 1 },
    }),
  } as unknown as OcrEngine;
}

/** A logger whose lines are kept, parsed. */
function capturedLogger(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger: Logger = pino(
    { level: 'info' },
    { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) },
  );
  return { logger, lines };
}

function context(engine = fakeEngine(), logger: Logger = pino({ level: 'silent' })): ServiceContext {
  return {
    engine,
    instanceId: 'instance-b',
    serverVersion: '1.0.0',
    logger,
    metrics: idleMetrics(),
    limits: {},
  } as unknown as ServiceContext;
}

async function cacheCount(ctx: ServiceContext, result: string): Promise<number> {
  return (await ctx.metrics.cacheRequests.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

/** A Recognize handler that answers a fixed page (or fails, while `fail` says so) and counts its calls. */
function countingHandlers(state: { calls: number; fail?: boolean }): OcrHandlers {
  return {
    recognize: async (): Promise<RecognizeResponse> => {
      state.calls++;
      if (state.fail) throw new OcrError('INVALID_ARGUMENT', 'not an image');
      return {
        lines: [
          {
            text: 'hello 你好',
            confidence: 0.987654321,
            box: [
              { x: 1.5, y: 2 },
              { x: 30, y: 2 },
              { x: 30, y: 12 },
              { x: 1.5, y: 12 },
            ],
          },
        ],
        width: 64,
        height: 16,
        rotation: 90,
        cached: false,
        instanceId: 'instance-a',
        timings: { queueMs: 1, decodeMs: 2, detectMs: 30, classifyMs: 0, recognizeMs: 40, totalMs: 73 },
      };
    },
    recognizeLines: () => Promise.reject(new Error('unused')),
    getServerInfo: () => Promise.reject(new Error('unused')),
  };
}

const info = () => ({ signal: new AbortController().signal });

/**
 * countingHandlers whose Recognize, once started (counted in `started`), waits for `gate` before it
 * answers, or fails with its call's signal as the engine does.
 */
function gatedHandlers(state: { calls: number; started: number; fail?: boolean }, gate: Promise<void>): OcrHandlers {
  const inner = countingHandlers(state);
  return {
    ...inner,
    recognize: async (req, callInfo) => {
      state.started++;
      await new Promise<void>((resolve, reject) => {
        void gate.then(resolve);
        callInfo.signal.addEventListener('abort', () => reject(callInfo.signal.reason as Error), { once: true });
      });
      return inner.recognize(req, callInfo);
    },
  };
}

/** A gate and what opens it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** The error `work` rejected with; fails the test if it resolved. */
async function rejection(work: Promise<unknown>): Promise<OcrError> {
  return work.then(
    () => expect.fail('the call was answered'),
    (err: unknown) => err as OcrError,
  );
}

const request = (image: string, options?: RecognizeRequest['options']): RecognizeRequest => ({ image: Buffer.from(image), options });

/** A store that fails every call, as a Redis that is down would: a lookup that fails, then a store not tried. */
const failingStore = (): ResultStore & { gets: number; sets: number } => ({
  gets: 0,
  sets: 0,
  heldBytes: 0,
  get(): Promise<StoredEntry | undefined> {
    this.gets++;
    return Promise.reject(new Error('connection refused'));
  },
  set(): Promise<void> {
    this.sets++;
    return Promise.reject(new StoreDown('Redis is unavailable'));
  },
  close: () => Promise.resolve(),
});

describe('result cache', () => {
  after(() => rmSync(MODEL_DIR, { recursive: true, force: true }));

  describe('key', () => {
    const identity = engineIdentity(fakeEngine(), '1.0.0');
    const image = Buffer.from('a scanned page, byte for byte');
    const key = (img: Uint8Array = image, options?: RecognizeRequest['options'], id = identity): Promise<string> =>
      resultKey(img, resolveOptions(options, DEFAULTS), id);

    it('is the same for the same bytes, options and engine, and a SHA-256 in hex', async () => {
      expect(await key()).to.equal(await key(Buffer.from('a scanned page, byte for byte')));
      expect(await key()).to.match(/^[0-9a-f]{64}$/);
    });

    it('changes with any byte of the image', async () => {
      const other = Buffer.from(image);
      other[other.length - 1] ^= 1;
      expect(await key(other)).to.not.equal(await key());
      expect(await key(image.subarray(0, image.length - 1))).to.not.equal(await key());
    });

    it('hashes a large image in slices, letting the event loop turn between them, to the same key every time', async () => {
      const large = Buffer.alloc(5 * 1024 * 1024 + 17, 7);
      let turned = false;
      setImmediate(() => (turned = true));
      const first = await key(large);
      expect(turned).to.equal(true);
      expect(await key(Buffer.from(large))).to.equal(first);
      large[large.length - 1] = 8;
      expect(await key(large)).to.not.equal(first);
    });

    it('changes with each option', async () => {
      const variants: RecognizeRequest['options'][] = [
        { maxSideLen: 1280 },
        { minSideLen: 64 },
        { boxThreshold: 0.5 },
        { unclipRatio: 2 },
        { useAngleCls: true },
        { minConfidence: 0.8 },
        { autoRotate: false },
      ];
      const keys = new Set(await Promise.all(variants.map((o) => key(image, o))));
      expect(keys.size).to.equal(variants.length);
      expect(keys.has(await key())).to.equal(false);
    });

    it('changes with every option the engine has, so that an option added to its defaults but not to the key fails here', async () => {
      const unset = await key();
      for (const [name, value] of Object.entries(DEFAULTS)) {
        const changed = typeof value === 'boolean' ? !value : value + 1;
        expect(await resultKey(image, { ...DEFAULTS, [name]: changed }, identity), name).to.not.equal(unset);
      }
    });

    it('is one entry for options unset, empty, and the defaults sent explicitly (as gRPC floats and as HTTP doubles)', async () => {
      const overGrpc = { ...DEFAULTS, boxThreshold: Math.fround(0.6), unclipRatio: Math.fround(1.5), minConfidence: Math.fround(0.5) };
      const unset = await key();
      expect(await key(image, {})).to.equal(unset);
      expect(await key(image, { ...DEFAULTS })).to.equal(unset);
      expect(await key(image, overGrpc)).to.equal(unset);
      expect(await key(image, { maxSideLen: 960 })).to.equal(unset);
    });

    it('changes with the models: a version, the recognizer precision, the manifest settings, the server version', async () => {
      const base = await key();
      expect(await key(image, undefined, engineIdentity(fakeEngine({ recVersion: 'v5' }), '1.0.0'))).to.not.equal(base);
      expect(await key(image, undefined, engineIdentity(fakeEngine({ precision: 'float32' }), '1.0.0'))).to.not.equal(base);
      expect(await key(image, undefined, engineIdentity(fakeEngine({ boxThresh: 0.7 }), '1.0.0'))).to.not.equal(base);
      expect(await key(image, undefined, engineIdentity(fakeEngine({ rowMergeGap: 0 }), '1.0.0'))).to.not.equal(base);
      expect(await key(image, undefined, engineIdentity(fakeEngine(), '1.0.1'))).to.not.equal(base);
      expect(await key(image, undefined, engineIdentity(fakeEngine(), '1.0.0'))).to.equal(base);
    });

    it('changes with the bytes the models run, under the same file names and versions: new weights, another dictionary', async () => {
      const base = await key();
      expect(await key(image, undefined, engineIdentity(fakeEngine({ recBytes: 'retrained weights' }), '1.0.0'))).to.not.equal(base);
      expect(await key(image, undefined, engineIdentity(fakeEngine({ dictionary: 'b\na\n' }), '1.0.0'))).to.not.equal(base);
      expect(await key(image, undefined, engineIdentity(fakeEngine(), '1.0.0'))).to.equal(base);
    });
  });

  describe('--cache', () => {
    it('takes memory, off and redis:// URLs with a numeric database; logs hide the password', () => {
      expect(parseCacheBackend('memory')).to.deep.equal({ kind: 'memory' });
      expect(parseCacheBackend('off')).to.deep.equal({ kind: 'off' });
      expect(parseCacheBackend('redis://r:6379/3')).to.deep.equal({ kind: 'redis', url: 'redis://r:6379/3' });
      expect(parseCacheBackend('rediss://:pw@r')).to.deep.equal({ kind: 'redis', url: 'rediss://:pw@r' });
      expect(() => parseCacheBackend('redis://r:6379/a')).to.throw(/must be a number/);
      expect(() => parseCacheBackend('http://r')).to.throw(/memory, off, or redis/);
      expect(() => parseCacheBackend('mem')).to.throw(/memory, off, or redis/);
      expect(redactedUrl('redis://user:secret@r:6379/1')).to.equal('redis://user:***@r:6379/1');
    });
  });

  describe('in front of Recognize', () => {
    it('answers an image sent again from memory: the handler runs once, the hit names this instance, says it is cached, with near-zero timings', async () => {
      const ctx = context();
      const state = { calls: 0 };
      const handlers = withResultCache(
        countingHandlers(state),
        new ResultCache(new MemoryStore(1 << 20, 60_000), ctx.metrics, ctx.logger),
        ctx,
      );
      const first = await handlers.recognize(request('page'), info());
      const again = await handlers.recognize(request('page', { boxThreshold: 0.6 }), info());
      expect(state.calls).to.equal(1);
      expect(again.lines).to.deep.equal(first.lines);
      expect([again.width, again.height]).to.deep.equal([64, 16]);
      expect(again.instanceId).to.equal('instance-b');
      expect([first.cached, again.cached]).to.deep.equal([false, true]);
      expect(again.timings!.detectMs + again.timings!.recognizeMs + again.timings!.queueMs).to.equal(0);
      expect(again.timings!.totalMs).to.be.below(50);
      expect([await cacheCount(ctx, 'miss'), await cacheCount(ctx, 'hit'), await cacheCount(ctx, 'error')]).to.deep.equal([1, 1, 0]);
      await handlers.recognize(request('another page'), info());
      expect(state.calls).to.equal(2);
    });

    describe('identical calls in flight at once', () => {
      const setup = () => {
        const ctx = context();
        const state = { calls: 0, started: 0, fail: false };
        const g = gate();
        const cache = new ResultCache(new MemoryStore(1 << 20, 60_000), ctx.metrics, ctx.logger);
        return { ctx, state, open: g.open, handlers: withResultCache(gatedHandlers(state, g.opened), cache, ctx) };
      };
      /** Lets every call started so far reach its wait (they are all in microtasks). */
      const settle = () => new Promise((resolve) => setImmediate(resolve));

      it('read once: the others wait for that answer, marked cached, and one that leaves ends its own wait, not the work', async () => {
        const { ctx, state, open, handlers } = setup();
        const leader = handlers.recognize(request('page'), info());
        await waitFor(() => state.started === 1, 5000, 'the first call to start reading');
        const leaving = new AbortController();
        const left = handlers.recognize(request('page'), { signal: leaving.signal });
        const staying = handlers.recognize(request('page', { boxThreshold: 0.6 }), info());
        await settle();
        const reason = new OcrError('CANCELLED', 'the caller left');
        leaving.abort(reason);
        expect(await rejection(left)).to.equal(reason);
        open();
        const [first, shared] = await Promise.all([leader, staying]);
        expect([state.started, state.calls]).to.deep.equal([1, 1]);
        expect(shared.lines).to.deep.equal(first.lines);
        expect([first.cached, shared.cached, shared.instanceId]).to.deep.equal([false, true, 'instance-b']);
        expect(shared.timings!.detectMs).to.equal(0);
        expect([await cacheCount(ctx, 'miss'), await cacheCount(ctx, 'hit')]).to.deep.equal([1, 1]);
      });

      it('a first whose caller left: one waiter reads the page in its place, once, for all of them', async () => {
        const { state, open, handlers } = setup();
        const leaving = new AbortController();
        const leader = handlers.recognize(request('page'), { signal: leaving.signal });
        await waitFor(() => state.started === 1, 5000, 'the first call to start reading');
        const waiters = [0, 1, 2].map(() => handlers.recognize(request('page'), info()));
        await settle();
        leaving.abort(new OcrError('CANCELLED', 'the caller left'));
        expect((await rejection(leader)).code).to.equal('CANCELLED');
        open();
        const answers = await Promise.all(waiters);
        expect([state.started, state.calls]).to.deep.equal([2, 1]);
        expect(answers.map((r) => r.cached).sort()).to.deep.equal([false, true, true]);
        for (const r of answers) expect(r.lines[0]!.text).to.equal('hello 你好');
      });

      it('an interactive call does not wait behind a batch one reading the same page (batch work queues behind interactive)', async () => {
        const { state, open, handlers } = setup();
        const batch = handlers.recognize(request('page'), { ...info(), priority: 'batch' });
        await waitFor(() => state.started === 1, 5000, 'the batch call to start reading');
        const interactive = handlers.recognize(request('page'), { ...info(), priority: 'interactive' });
        await waitFor(() => state.started === 2, 5000, 'the interactive call to read the page itself');
        open();
        expect((await Promise.all([batch, interactive])).map((r) => r.cached)).to.deep.equal([false, false]);
      });

      it('a first that fails for its request: the others try once more, then get its error', async () => {
        const { state, open, handlers } = setup();
        state.fail = true;
        // As a server's call record does (CallRecord.end), each call's signal aborts once it has ended:
        // an ended call is not one whose caller left.
        const call = (): Promise<RecognizeResponse> => {
          const ends = new AbortController();
          const answer = handlers.recognize(request('not an image'), { signal: ends.signal });
          void answer.then(
            () => ends.abort(),
            () => ends.abort(),
          );
          return answer;
        };
        const leader = call();
        await waitFor(() => state.started === 1, 5000, 'the first call to start reading');
        const waiters = [0, 1, 2].map(call);
        await settle();
        open();
        for (const call of [leader, ...waiters]) expect((await rejection(call)).code).to.equal('INVALID_ARGUMENT');
        expect(state.started).to.equal(2);
      });
    });

    it('keeps answers only: a call that failed is computed again', async () => {
      const ctx = context();
      const state = { calls: 0, fail: true };
      const handlers = withResultCache(
        countingHandlers(state),
        new ResultCache(new MemoryStore(1 << 20, 60_000), ctx.metrics, ctx.logger),
        ctx,
      );
      let refused: unknown;
      await handlers.recognize(request('page'), info()).catch((err: unknown) => (refused = err));
      expect(refused).to.be.instanceOf(OcrError);
      state.fail = false;
      await handlers.recognize(request('page'), info());
      await handlers.recognize(request('page'), info());
      expect(state.calls).to.equal(2);
    });

    it('refuses out-of-range options as the handler does, without a lookup', async () => {
      const ctx = context();
      const store = failingStore();
      const handlers = withResultCache(countingHandlers({ calls: 0 }), new ResultCache(store, ctx.metrics, ctx.logger), ctx);
      let refused: unknown;
      await handlers.recognize(request('page', { boxThreshold: 2 }), info()).catch((err: unknown) => (refused = err));
      expect((refused as OcrError).code).to.equal('INVALID_ARGUMENT');
      expect(store.gets).to.equal(0);
    });

    it('computes every call when the store fails, counting the failures, and never fails a call', async () => {
      const ctx = context();
      const state = { calls: 0 };
      const store = failingStore();
      const handlers = withResultCache(countingHandlers(state), new ResultCache(store, ctx.metrics, ctx.logger), ctx);
      for (let i = 0; i < 5; i++) {
        const r = await handlers.recognize(request('page'), info());
        expect(r.lines[0]!.text).to.equal('hello 你好');
      }
      expect(state.calls).to.equal(5);
      expect(store.sets).to.equal(5);
      expect(await cacheCount(ctx, 'error')).to.equal(5);
      expect(await cacheCount(ctx, 'hit')).to.equal(0);
    });

    it('treats an unreadable entry as a miss, with a warning', async () => {
      const { logger, lines } = capturedLogger();
      const ctx = context(fakeEngine(), logger);
      const store = new MemoryStore(1 << 20, 60_000);
      const cache = new ResultCache(store, ctx.metrics, logger);
      const state = { calls: 0 };
      const handlers = withResultCache(countingHandlers(state), cache, ctx);
      await handlers.recognize(request('page'), info());
      // Every entry rewritten as something that is no page.
      const key = await resultKey(Buffer.from('page'), resolveOptions(undefined, DEFAULTS), engineIdentity(ctx.engine, ctx.serverVersion));
      await store.set(key, Buffer.from('{"not":"a page"}'));
      const r = await handlers.recognize(request('page'), info());
      expect(r.instanceId).to.equal('instance-a');
      expect(state.calls).to.equal(2);
      expect(lines.filter((l) => l.msg.includes('unreadable entry'))).to.have.length(1);
    });
    it('treats a value of the right outline but no page inside (lines of another shape, odd sizes) as a miss, never serving or failing on it', async () => {
      const ctx = context();
      const store = new MemoryStore(1 << 20, 60_000);
      const handlers = withResultCache(countingHandlers({ calls: 0 }), new ResultCache(store, ctx.metrics, pino({ level: 'silent' })), ctx);
      const key = await resultKey(Buffer.from('page'), resolveOptions(undefined, DEFAULTS), engineIdentity(ctx.engine, ctx.serverVersion));
      const box = [
        { x: 1, y: 2 },
        { x: 3, y: 2 },
        { x: 3, y: 4 },
        { x: 1, y: 4 },
      ];
      const foreign = [
        { lines: [{ text: 5 }] },
        { lines: [null] },
        { lines: [{ text: 'forged', confidence: 'high', box: 'none' }] },
        { lines: [{ text: 'forged', confidence: 1, box: [] }] },
        { lines: [{ text: 'forged', confidence: 7, box }] },
        { lines: [{ text: 'forged', confidence: 1, box }], width: -5 },
        { lines: [{ text: 'forged', confidence: 1, box }], height: 1.5 },
        { lines: [{ text: 'forged', confidence: 1, box }], rotation: 45 },
      ];
      for (const over of foreign) {
        await store.set(key, Buffer.from(JSON.stringify({ width: 64, height: 16, rotation: 0, ...over })));
        const r = await handlers.recognize(request('page'), info());
        expect(r.instanceId, JSON.stringify(over)).to.equal('instance-a');
        expect(r.lines[0]!.text).to.equal('hello 你好');
      }
      expect(await cacheCount(ctx, 'hit')).to.equal(0);
    });
  });

  describe('memory store', () => {
    it('holds at most its bytes, dropping the least recently used', async () => {
      const store = new MemoryStore(10_000, 60_000);
      for (let i = 0; i < 100; i++) await store.set(`key-${i}`, Buffer.alloc(1000));
      expect(store.heldBytes).to.be.at.most(10_000);
      expect(await store.get('key-99')).to.not.equal(undefined);
      expect(await store.get('key-0')).to.equal(undefined);
      await store.set('huge', Buffer.alloc(20_000));
      expect(await store.get('huge')).to.equal(undefined);
    });

    it('forgets an entry once its time to live is over', async () => {
      const store = new MemoryStore(10_000, 40);
      await store.set('k', Buffer.from('v'));
      expect((await store.get('k'))?.value.toString()).to.equal('v');
      await waitFor(async () => (await store.get('k')) === undefined, 2000, 'the entry to expire');
    });

    it('in front of a store behind: a hit behind is copied with what is left of its TTL, and memory answers while the store behind is down', async () => {
      const front = new MemoryStore(10_000, 60_000);
      const back = new MemoryStore(10_000, 60_000);
      await back.set('k', Buffer.from('v'));
      const tiered = new TieredStore(front, {
        heldBytes: 0,
        get: async (key) => ({ ...(await back.get(key))!, ttlMs: 30 }),
        set: (key, value) => back.set(key, value),
        close: () => Promise.resolve(),
      });
      expect((await tiered.get('k'))?.value.toString()).to.equal('v');
      expect((await front.get('k'))?.value.toString()).to.equal('v');
      await waitFor(async () => (await front.get('k')) === undefined, 2000, 'the copy to expire with the entry behind');

      const down = new TieredStore(front, failingStore());
      await front.set('near', Buffer.from('n'));
      expect((await down.get('near'))?.value.toString()).to.equal('n');
      let failed = false;
      await down.get('far').catch(() => (failed = true));
      expect(failed).to.equal(true);
    });
  });

  describe('Redis store, Redis unreachable', () => {
    it('fails each command at once when nothing listens, logging the outage once', async () => {
      const { logger, lines } = capturedLogger();
      const port = await freePort();
      const store = new RedisStore(`redis://127.0.0.1:${port}`, 60_000, 50, logger);
      try {
        expect(await store.ready(300)).to.equal(false);
        const started = performance.now();
        for (let i = 0; i < 20; i++) {
          await store.get('k').then(
            () => expect.fail('a get without Redis answered'),
            () => undefined,
          );
          await store.set('k', Buffer.from('v')).then(
            () => expect.fail('a set without Redis answered'),
            () => undefined,
          );
        }
        expect(performance.now() - started).to.be.below(200);
        expect(lines.filter((l) => l.msg.startsWith('result cache unavailable'))).to.have.length(1);
      } finally {
        await store.close();
      }
    });

    it('bounds a Redis that accepts connections but never answers: calls are computed, none waits more than the timeout', async () => {
      const sockets = new Set<net.Socket>();
      const silent = net.createServer((s) => sockets.add(s));
      silent.listen(0, '127.0.0.1');
      await once(silent, 'listening');
      const { logger, lines } = capturedLogger();
      const store = new RedisStore(`redis://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, 60_000, 50, logger);
      const ctx = context(fakeEngine(), logger);
      const state = { calls: 0 };
      const handlers = withResultCache(countingHandlers(state), new ResultCache(store, ctx.metrics, logger), ctx);
      try {
        for (let i = 0; i < 10; i++) {
          const started = performance.now();
          await handlers.recognize(request(`page ${i}`), info());
          expect(performance.now() - started).to.be.below(150);
        }
        expect(state.calls).to.equal(10);
        expect(await cacheCount(ctx, 'error')).to.equal(10);
        expect(lines.filter((l) => l.msg.startsWith('result cache unavailable'))).to.have.length(1);
      } finally {
        await store.close();
        for (const s of sockets) s.destroy();
        silent.close();
      }
    });
  });
});
