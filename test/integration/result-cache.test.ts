import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { OcrClient, type OcrCallError } from '../../src/client/index.js';
import { metricSample } from '../../src/dev/metric-sample.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import type { RecognizeOptions, RecognizeResponse } from '../../src/gen/ocr/v1/ocr.js';
import type { Logger } from '../../src/server/logger.js';
import { REDIS_KEY_PREFIX, RedisStore } from '../../src/server/redis-store.js';
import { makePki } from '../support/certificates.js';
import { textImage } from '../support/images.js';
import { requireRedisServer, startRedis, type RedisProcess } from '../support/redis.js';
import { tcpRelay } from '../support/tcp-relay.js';

/**
 * Each Redis command's bound here. The default (50 ms) is for production; on a test machine shared
 * with other suites, a command that should have been a hit could pass it (and be computed, rightly),
 * which would fail the checks of sharing for no fault of the cache.
 */
const REDIS_TIMEOUT_MS = 150;
/** What the cache may add to a call beyond the server's own work: a lookup and a store at most, and the round trip. */
const OVERHEAD_BOUND_MS = 2 * REDIS_TIMEOUT_MS + 400;

interface Instance {
  server: ServerProcess;
  client: OcrClient;
}

async function start(args: string[]): Promise<Instance> {
  const server = await spawnServer(['--workers', '1', ...args]);
  return { server, client: new OcrClient(`127.0.0.1:${server.port}`, { deadlineMs: 60_000 }) };
}

function stop(i: Instance | undefined): void {
  i?.client.close();
  i?.server.child.kill('SIGKILL');
}

/** ocr_cache_requests_total{result} of an instance, from its /metrics. */
async function cacheCount(i: Instance, result: 'hit' | 'miss' | 'error'): Promise<number> {
  return metricSample(i.server.httpPort!, `ocr_cache_requests_total{result="${result}"}`, 0);
}

/** A call, with how long the client waited beyond the server's own account of its work (timings.total_ms). */
async function timed(i: Instance, image: Buffer, options?: RecognizeOptions): Promise<{ r: RecognizeResponse; overheadMs: number }> {
  const started = performance.now();
  const r = await i.client.recognize(image, options);
  return { r, overheadMs: performance.now() - started - r.timings!.totalMs };
}

const page = (text: string): Promise<Buffer> => textImage(text, 520, 64);

/** Lines of log an instance has written since `from` (a length of its stderr) whose message starts with `msg`. */
const logLines = (i: Instance, from: number, msg: string): string[] =>
  i.server
    .stderr()
    .slice(from)
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}`));

/** A logger whose lines are kept, parsed. */
function capturedLogger(): { logger: Logger; lines: { level: number; msg: string; err?: string }[] } {
  const lines: { level: number; msg: string; err?: string }[] = [];
  const logger: Logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) });
  return { logger, lines };
}

/** Resolves once `work` has rejected; fails the test if it resolved. */
async function refused(work: Promise<unknown>, what: string): Promise<void> {
  await work.then(
    () => expect.fail(`${what} succeeded`),
    () => undefined,
  );
}

describe('result cache', function () {
  this.timeout(240_000);

  describe('two instances sharing Redis', () => {
    let redis: RedisProcess | undefined;
    let a: Instance | undefined;
    let b: Instance | undefined;

    before(async () => {
      requireRedisServer();
      redis = await startRedis();
      const args = ['--cache', redis.url, '--cache-timeout-ms', String(REDIS_TIMEOUT_MS), '--log-level', 'info'];
      [a, b] = await Promise.all([start(args), start(args)]);
    });
    after(async () => {
      stop(a);
      stop(b);
      await redis?.kill();
    });

    it("answers on B, from the cache, a page A has read: B's instance id, A's lines, marked cached, no work, B's hit counter up", async () => {
      const image = await page('Invoice 2024-117 total 88.50');
      const first = await a!.client.recognize(image);
      expect(first.instanceId).to.equal(a!.server.instanceId);
      expect(first.lines.length).to.be.above(0);
      const hitsBefore = await cacheCount(b!, 'hit');
      const { r: again } = await timed(b!, image);
      expect(again.instanceId).to.equal(b!.server.instanceId);
      expect(again.lines).to.deep.equal(first.lines);
      expect([first.cached, again.cached]).to.deep.equal([false, true]);
      expect([again.width, again.height]).to.deep.equal([first.width, first.height]);
      expect(again.timings!.detectMs + again.timings!.recognizeMs + again.timings!.decodeMs).to.equal(0);
      expect(again.timings!.totalMs).to.be.below(50);
      expect(await cacheCount(b!, 'hit')).to.equal(hitsBefore + 1);
    });

    it('shares one entry between the HTTP API and gRPC, and between options unset and the defaults sent explicitly', async () => {
      const image = await page('Receipt 5531 paid by card');
      const res = await fetch(`http://127.0.0.1:${a!.server.httpPort}/api/ocr`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: image,
      });
      expect(res.status).to.equal(200);
      const viaHttp = (await res.json()) as { data: { text: string }[]; instance_id: string; cached: boolean };
      expect(viaHttp.instance_id).to.equal(a!.server.instanceId);
      expect(viaHttp.cached).to.equal(false);
      const { defaults } = await b!.client.getServerInfo();
      const hitsBefore = await cacheCount(b!, 'hit');
      const again = await b!.client.recognize(image, { ...defaults });
      expect(again.instanceId).to.equal(b!.server.instanceId);
      expect(again.lines.map((l) => l.text)).to.deep.equal(viaHttp.data.map((l) => l.text));
      expect(again.cached).to.equal(true);
      expect(await cacheCount(b!, 'hit')).to.equal(hitsBefore + 1);
      // Other options are another entry: computed.
      const other = await b!.client.recognize(image, { minConfidence: 0.9 });
      expect(other.timings!.detectMs).to.be.above(0);
    });

    it('answers from Redis no image this instance would refuse: one with a smaller --max-pixels refuses what another read', async () => {
      const image = await page('Sized for the larger instance'); // 520×64 = 33 280 pixels
      const read = await a!.client.recognize(image);
      expect(read.lines.length).to.be.above(0);
      let small: Instance | undefined;
      try {
        small = await start(['--cache', redis!.url, '--cache-timeout-ms', String(REDIS_TIMEOUT_MS), '--max-pixels', '30000']);
        const err = await small.client.recognize(image).then(
          (r) => expect.fail(`answered (cached: ${r.cached}) an image over its --max-pixels`),
          (e: unknown) => e as OcrCallError,
        );
        expect(err.code).to.equal('RESOURCE_EXHAUSTED');
        expect(err.details).to.include("over this server's limit of 30000");
        expect(await cacheCount(small, 'hit')).to.equal(0);
      } finally {
        stop(small);
      }
    });

    it('treats a forged or damaged value in Redis under the key as a miss: the call is answered, over HTTP too, and the entry rewritten', async () => {
      const raw = new Redis(redis!.url);
      try {
        const image = await page('Forged entry page 7');
        const before = new Set(await raw.keys(`${REDIS_KEY_PREFIX}*`));
        const first = await a!.client.recognize(image);
        const [key] = (await raw.keys(`${REDIS_KEY_PREFIX}*`)).filter((k) => !before.has(k));
        expect(key, 'the entry A wrote').to.be.a('string');
        const good = await raw.getBuffer(key!);
        // B has not read this page: it looks in Redis.
        await raw.set(key!, JSON.stringify({ lines: [{ text: 'forged' }], width: 1, height: 1, rotation: 0 }));
        const res = await fetch(`http://127.0.0.1:${b!.server.httpPort}/api/ocr`, {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: image,
        });
        const body = (await res.json()) as { data: { text: string }[]; cached: boolean; msg: string };
        expect(res.status, body.msg).to.equal(200);
        expect(body.cached).to.equal(false);
        expect(body.data.map((l) => l.text)).to.deep.equal(first.lines.map((l) => l.text));
        expect(JSON.parse((await raw.get(key!))!)).to.deep.equal(JSON.parse(good!.toString()));
      } finally {
        raw.disconnect();
      }
    });

    it('bounds every call while Redis hangs (SIGSTOP): computed without the cache, no call waits on Redis', async () => {
      const errorsBefore = await cacheCount(b!, 'error');
      const from = b!.server.stderr().length;
      redis!.child.kill('SIGSTOP');
      try {
        for (let n = 0; n < 3; n++) {
          const { r, overheadMs } = await timed(b!, await page(`Paused Redis call ${n}`));
          expect(r.instanceId).to.equal(b!.server.instanceId);
          expect(overheadMs).to.be.below(OVERHEAD_BOUND_MS);
        }
        expect(await cacheCount(b!, 'error')).to.be.above(errorsBefore);
        expect(logLines(b!, from, 'result cache unavailable')).to.have.length(1);
      } finally {
        redis!.child.kill('SIGCONT');
      }
      // The connection never dropped: the outage ends with the first command that succeeds, a probe
      // at most a second after the last failure (pages not seen before, so that memory does not answer).
      let n = 0;
      await waitFor(
        async () => {
          await b!.client.recognize(await page(`Resumed Redis call ${n++}`));
          return logLines(b!, from, 'result cache available again').length === 1;
        },
        20_000,
        'B to use Redis again',
      );
    });

    it('loses no call when Redis is killed mid-test, stalls none, logs the outage once per instance, and uses Redis again once it is back', async () => {
      const seen = await page('Invoice 2024-117 total 88.50'); // read by A and B before: in both memories
      const fresh = await Promise.all([0, 1, 2, 3, 4, 5].map((n) => page(`Outage page number ${n}`)));
      const from = [a!.server.stderr().length, b!.server.stderr().length];
      const errorsBefore = await Promise.all([cacheCount(a!, 'error'), cacheCount(b!, 'error')]);
      const port = redis!.port;
      await redis!.kill();

      const failures: string[] = [];
      const overheads: number[] = [];
      for (const [n, image] of [...fresh, seen, seen].entries()) {
        const i = n % 2 === 0 ? a! : b!;
        try {
          const { r, overheadMs } = await timed(i, image);
          expect(r.instanceId).to.equal(i.server.instanceId);
          expect(r.lines.length).to.be.above(0);
          overheads.push(overheadMs);
        } catch (err) {
          failures.push(`call ${n}: ${(err as Error).message}`);
        }
      }
      expect(failures).to.deep.equal([]);
      expect(Math.max(...overheads), `ms beyond the server's own work: ${overheads.map(Math.round).join(', ')}`).to.be.below(
        OVERHEAD_BOUND_MS,
      );
      expect(await cacheCount(a!, 'error')).to.be.above(errorsBefore[0]!);
      expect(await cacheCount(b!, 'error')).to.be.above(errorsBefore[1]!);
      for (const [k, i] of [a!, b!].entries()) expect(logLines(i, from[k]!, 'result cache unavailable')).to.have.length(1);

      // Back on the same port: the instances reconnect by themselves and share again.
      redis = await startRedis(port);
      for (const [k, i] of [a!, b!].entries()) {
        await waitFor(
          () => logLines(i, from[k]!, 'result cache available again').length === 1,
          20_000,
          'the instance to reconnect to Redis',
        );
      }
      const image = await page('Written after the outage');
      await b!.client.recognize(image);
      const hitsBefore = await cacheCount(a!, 'hit');
      const fromRedis = await a!.client.recognize(image);
      expect(fromRedis.instanceId).to.equal(a!.server.instanceId);
      expect(fromRedis.timings!.detectMs).to.equal(0);
      expect(await cacheCount(a!, 'hit')).to.equal(hitsBefore + 1);
    });
  });

  describe('in-process LRU (the default)', () => {
    let c: Instance | undefined;
    before(async () => (c = await start(['--cache', 'memory'])));
    after(() => stop(c));

    it('answers a repeat from memory on the same instance', async () => {
      const image = await page('Delivery note 42 two boxes');
      const first = await c!.client.recognize(image);
      expect(first.timings!.detectMs).to.be.above(0);
      expect([await cacheCount(c!, 'miss'), await cacheCount(c!, 'hit')]).to.deep.equal([1, 0]);
      const again = await c!.client.recognize(image);
      expect(again.lines).to.deep.equal(first.lines);
      expect(again.instanceId).to.equal(c!.server.instanceId);
      expect(again.timings!.detectMs).to.equal(0);
      expect(again.timings!.totalMs).to.be.below(50);
      expect([await cacheCount(c!, 'miss'), await cacheCount(c!, 'hit'), await cacheCount(c!, 'error')]).to.deep.equal([1, 1, 0]);
      expect(await metricSample(c!.server.httpPort!, 'ocr_cache_memory_bytes')).to.be.above(0);
    });

    it('reads an image sent 20 times at once once: the others wait for that answer, marked cached, counted as hits', async () => {
      const image = await page('Twenty copies of one scan');
      const detects = () => metricSample(c!.server.httpPort!, 'ocr_stage_duration_seconds_count{stage="detect"}', 0);
      const [detectsBefore, hitsBefore, missesBefore] = [await detects(), await cacheCount(c!, 'hit'), await cacheCount(c!, 'miss')];
      const answers = await Promise.all(Array.from({ length: 20 }, () => c!.client.recognize(image)));
      expect(await detects(), 'pages detected').to.equal(detectsBefore + 1);
      expect(answers.filter((r) => !r.cached)).to.have.length(1);
      for (const r of answers) {
        expect(r.lines).to.deep.equal(answers[0]!.lines);
        expect(r.instanceId).to.equal(c!.server.instanceId);
      }
      expect([(await cacheCount(c!, 'miss')) - missesBefore, (await cacheCount(c!, 'hit')) - hitsBefore]).to.deep.equal([1, 19]);
    });
  });

  describe('a Redis that refuses', () => {
    let redis: RedisProcess | undefined;
    let raw: Redis | undefined;
    before(async () => {
      redis = await startRedis();
      raw = new Redis(redis.url);
    });
    after(async () => {
      raw?.disconnect();
      await redis?.kill();
    });

    it('a database it does not have: the store uses none other (ioredis goes on with database 0), and logs once what to do', async () => {
      await raw!.set(`${REDIS_KEY_PREFIX}k`, 'on database 0');
      const { logger, lines } = capturedLogger();
      const store = new RedisStore(`${redis!.url}/99`, 60_000, 1000, logger);
      try {
        expect(await store.ready(10_000)).to.equal(false);
        await refused(store.get('k'), 'a get on a database Redis refused');
        await refused(store.set('k', Buffer.from('page')), 'a set on a database Redis refused');
        expect(await raw!.get(`${REDIS_KEY_PREFIX}k`)).to.equal('on database 0');
        const warned = lines.filter((l) => l.msg.startsWith('result cache unavailable'));
        expect(warned).to.have.length(1);
        expect(warned[0]!.err).to.include('database 99');
        expect(lines.filter((l) => l.msg.startsWith('result cache available again'))).to.deep.equal([]);
      } finally {
        await store.close();
      }
    });

    it("credentials it refuses: the outage logged once, saying to give Redis's password in the URL", async () => {
      await raw!.config('SET', 'requirepass', 'sekret');
      const { logger, lines } = capturedLogger();
      const stores = [
        new RedisStore(redis!.url, 60_000, 1000, logger),
        new RedisStore(`redis://:wrong@127.0.0.1:${redis!.port}`, 60_000, 1000, logger),
      ];
      try {
        for (const store of stores) {
          expect(await store.ready(1000)).to.equal(false);
          await refused(store.get('k'), 'a get without the password');
        }
        const warned = lines.filter((l) => l.msg.startsWith('result cache unavailable'));
        expect(warned).to.have.length(2);
        for (const w of warned) expect(w.err).to.include("Redis refused the URL's credentials").and.include('redis://:PASSWORD@HOST:PORT');
      } finally {
        await raw!.config('SET', 'requirepass', '');
        for (const store of stores) await store.close();
      }
    });

    it('a TLS certificate the server does not trust (rediss://): the outage logged once, saying how to trust its CA', async () => {
      const pki = makePki();
      const tlsRedis = await startRedis(undefined, pki.server);
      const { logger, lines } = capturedLogger();
      const store = new RedisStore(tlsRedis.url, 60_000, 1000, logger);
      try {
        expect(await store.ready(1000)).to.equal(false);
        await refused(store.get('k'), 'a get from a Redis whose certificate is not trusted');
        const warned = lines.filter((l) => l.msg.startsWith('result cache unavailable'));
        expect(warned).to.have.length(1);
        expect(warned[0]!.err).to.include("Redis's TLS certificate is not trusted").and.include('NODE_EXTRA_CA_CERTS');
      } finally {
        await store.close();
        await tlsRedis.kill();
        pki.remove();
      }
    });

    it('a URL whose scheme is not what the port speaks (redis:// to TLS, rediss:// to plain): the outage logged once, naming the other scheme', async () => {
      const pki = makePki();
      const tlsRedis = await startRedis(undefined, pki.server);
      const { logger, lines } = capturedLogger();
      const stores = [
        new RedisStore(`redis://127.0.0.1:${tlsRedis.port}`, 60_000, 1000, logger),
        new RedisStore(`rediss://127.0.0.1:${redis!.port}`, 60_000, 1000, logger),
      ];
      try {
        for (const store of stores) expect(await store.ready(1500)).to.equal(false);
        await waitFor(() => lines.length >= 2, 10_000, 'both outages to be logged');
        const warned = lines.filter((l) => l.msg.startsWith('result cache unavailable'));
        expect(warned.map((w) => w.err)).to.have.length(2);
        expect(
          warned.find((w) => w.err?.includes('then the URL is rediss://, not redis://')),
          'redis:// to TLS',
        ).to.not.equal(undefined);
        expect(
          warned.find((w) => w.err?.includes('then the URL is redis://, not rediss://')),
          'rediss:// to plain',
        ).to.not.equal(undefined);
      } finally {
        for (const store of stores) await store.close();
        await tlsRedis.kill();
        pki.remove();
      }
    });

    it('a Redis that takes the connection and never answers (paused at the start): the outage logged once, saying so', async () => {
      const paused = await startRedis();
      paused.child.kill('SIGSTOP');
      const { logger, lines } = capturedLogger();
      const store = new RedisStore(paused.url, 60_000, 200, logger);
      try {
        expect(await store.ready(1000)).to.equal(false);
        await waitFor(() => lines.length >= 1, 10_000, 'the outage to be logged');
        const warned = lines.filter((l) => l.msg.startsWith('result cache unavailable'));
        expect(warned).to.have.length(1);
        expect(warned[0]!.err).to.include('Redis accepted the connection but did not answer').and.include('--cache-timeout-ms');
        paused.child.kill('SIGCONT');
        await waitFor(() => store.ready(0), 20_000, 'the store to connect once Redis answers');
      } finally {
        await store.close();
        paused.child.kill('SIGCONT');
        await paused.kill();
      }
    });

    it('after a failover (its name moved to the new primary, the old one a replica: READONLY): stores reach the new primary, without an outage logged', async () => {
      const primary = await startRedis();
      let target = redis!.port;
      const relay = tcpRelay(() => target); // the name a managed Redis's clients know it by
      relay.server.listen(0, '127.0.0.1');
      await once(relay.server, 'listening');
      const { logger, lines } = capturedLogger();
      const store = new RedisStore(`redis://127.0.0.1:${(relay.server.address() as AddressInfo).port}`, 60_000, 1000, logger);
      try {
        expect(await store.ready(10_000)).to.equal(true);
        await store.set('before the failover', Buffer.from('page'));
        await raw!.replicaof('127.0.0.1', primary.port);
        target = primary.port;
        await refused(store.set('during the failover', Buffer.from('page')), 'a store on a replica');
        await waitFor(
          () =>
            store.set('after the failover', Buffer.from('page')).then(
              () => true,
              () => false,
            ),
          20_000,
          'a store to reach the new primary',
        );
        const onPrimary = new Redis(primary.url);
        expect(await onPrimary.get(`${REDIS_KEY_PREFIX}after the failover`)).to.equal('page');
        onPrimary.disconnect();
        expect(lines.filter((l) => l.msg.startsWith('result cache unavailable'))).to.deep.equal([]);
      } finally {
        await raw!.replicaof('NO', 'ONE');
        await store.close();
        relay.close();
        await primary.kill();
      }
    });

    it('at maxmemory under noeviction (a Redis that has stopped storing): each refused store counted as an error on /metrics, the call answered', async () => {
      let server: Instance | undefined;
      try {
        server = await start(['--cache', redis!.url, '--cache-max-mb', '0', '--cache-timeout-ms', String(REDIS_TIMEOUT_MS)]);
        await raw!.config('SET', 'maxmemory-policy', 'noeviction');
        await raw!.config('SET', 'maxmemory', '1');
        for (let n = 0; n < 2; n++) {
          const r = await server.client.recognize(await page(`Not stored page ${n}`));
          expect(r.lines.length).to.be.above(0);
        }
        expect([await cacheCount(server, 'miss'), await cacheCount(server, 'error')]).to.deep.equal([2, 2]);
      } finally {
        await raw!.config('SET', 'maxmemory', '0');
        stop(server);
      }
    });

    it('at maxmemory under noeviction: hits still answered, the refused stores logged once, not as an outage ended and begun every second', async () => {
      await raw!.set(`${REDIS_KEY_PREFIX}kept`, 'kept page');
      const { logger, lines } = capturedLogger();
      const store = new RedisStore(redis!.url, 60_000, 1000, logger);
      try {
        expect(await store.ready(10_000)).to.equal(true);
        await raw!.config('SET', 'maxmemory-policy', 'noeviction');
        await raw!.config('SET', 'maxmemory', '1');
        for (let n = 0; n < 3; n++) {
          await refused(store.set(`new page ${n}`, Buffer.from('page')), 'a set past maxmemory');
          await waitFor(
            async () => (await store.get('kept'))?.value.toString() === 'kept page',
            10_000,
            'a hit while Redis refuses to store',
          );
        }
        expect(lines.filter((l) => l.level >= 40).map((l) => l.msg)).to.deep.equal([
          'result cache refused by Redis: calls are computed without this command until Redis takes it again',
        ]);
        expect(lines.filter((l) => l.msg.includes('again') && l.level < 40)).to.deep.equal([]);
        await raw!.config('SET', 'maxmemory', '0');
        await store.set('new page', Buffer.from('page'));
        expect(lines.filter((l) => l.msg === 'result cache accepted by Redis again')).to.have.length(1);
      } finally {
        await raw!.config('SET', 'maxmemory', '0');
        await store.close();
      }
    });
  });
});
