import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { CALLER_CANCELLED, OcrCallError, OcrClient, recognizeLargeImage, recognizeLargeImageSpread } from '../../src/client/index.js';
import { TiledImage } from '../../src/client/tiled-image.js';
import { textImage } from '../support/images.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The SDK's large-image helpers make calls for their caller: each call must carry the caller's
 * settings (a per-call token), and a stream that failed for a reason every instance would give
 * again is not sent again.
 */
describe('large-image helpers: call settings and resumption', function () {
  this.timeout(240_000);
  const key = generateApiKey();
  let dir: string;
  let t: TestServer;
  let client: OcrClient;
  let wide: Buffer;

  /** RecognizeTiles calls the server has ended with `code` so far. */
  const tileCalls = async (code: string): Promise<number> =>
    (await t.server.metrics.requests.get()).values
      .filter((v) => v.labels.method === 'RecognizeTiles' && v.labels.code === code)
      .reduce((sum, v) => sum + v.value, 0);

  const failure = async (promise: Promise<unknown>): Promise<OcrCallError> => {
    const err = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(OcrCallError);
    return err as OcrCallError;
  };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-large-image-'));
    const apiKeysFile = path.join(dir, 'keys.json');
    writeFileSync(apiKeysFile, JSON.stringify([{ name: 'reader', hash: hashApiKey(key), scopes: ['ocr:read'] }]));
    t = await startTestServer({ access: { auth: { apiKeysFile } } });
    // A client without a token of its own: the helpers' callers give one per call.
    client = new OcrClient(t.target, { deadlineMs: 120_000 });
    wide = await textImage('Invoice 2024 total 42.00 paid', 900, 64);
  });
  after(async () => {
    client?.close();
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("recognizeLargeImage sends the call's own token", async () => {
    const page = await recognizeLargeImage(client, wide, { tileSize: 512, token: key });
    expect(page.tiles).to.be.at.least(2);
    expect(page.lines.map((l) => l.text).join(' ')).to.contain('42');
  });

  it("recognizeLargeImageSpread sends the call's own token on its streams and its re-read", async () => {
    const page = await recognizeLargeImageSpread(client, wide, { tileSize: 512, streams: 2, token: key });
    expect(page.failedStreams).to.equal(0);
    expect(page.lines.map((l) => l.text).join(' ')).to.contain('42');
  });

  it('recognizeLargeImageSpread whose caller aborts while its tiles are cut cuts no more of them', async () => {
    const tall = await textImage('Invoice 2024 total 42.00 paid', 900, 2048);
    const controller = new AbortController();
    // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, and called with its own this below
    const encodeTile = TiledImage.prototype.encodeTile;
    let cut = 0;
    // In a caller's process an unhandled rejection ends the process (Node's default since 15).
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): number => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    TiledImage.prototype.encodeTile = function (this: TiledImage, ...args: Parameters<TiledImage['encodeTile']>) {
      cut++;
      controller.abort(new Error('the user left'));
      return encodeTile.apply(this, args);
    };
    try {
      const err = await failure(
        recognizeLargeImageSpread(client, tall, { tileSize: 256, streams: 2, token: key, signal: controller.signal }),
      );
      expect([err.code, err.details]).to.deep.equal(['CANCELLED', CALLER_CANCELLED]);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      TiledImage.prototype.encodeTile = encodeTile;
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled, 'unhandled rejections').to.deep.equal([]);
    // 32 tiles of 256 px (overlap included): the two streams' first ones at most.
    expect(cut, 'tiles cut').to.be.at.most(2);
  });

  it('recognizeLargeImageSpread does not send again the tiles of a stream refused for its token', async () => {
    const before = await tileCalls('UNAUTHENTICATED');
    const err = await failure(recognizeLargeImageSpread(client, wide, { tileSize: 512, streams: 2 }));
    expect(err.code).to.equal('UNAUTHENTICATED');
    expect((await tileCalls('UNAUTHENTICATED')) - before, 'streams opened: one round of two').to.equal(2);
  });

  it('recognizeLargeImageSpread does not send again the tiles of a stream refused for its options', async () => {
    const before = await tileCalls('INVALID_ARGUMENT');
    const err = await failure(
      recognizeLargeImageSpread(client, wide, { tileSize: 512, streams: 2, token: key, options: { minConfidence: 3 } }),
    );
    expect(err.code).to.equal('INVALID_ARGUMENT');
    expect(err.details).to.match(/options\.min_confidence is 3/);
    expect((await tileCalls('INVALID_ARGUMENT')) - before, 'streams opened: one round of two').to.equal(2);
  });
});
