import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import sharp from 'sharp';
import { OcrCallError } from '../../src/client/index.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { RecognizeRequest } from '../../src/gen/ocr/v1/ocr.js';
import { jpegClaiming, jpegFrameAs, jpegWithoutQuantTables, pngClaiming, samplesTiff, solidImage, textImage } from '../support/images.js';
import { OcrClient } from '../../src/client/index.js';
import { spawnServer } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { errorAnswerTimes } from '../support/error-latency.js';
import { commentFloodPng } from '../support/hostile-images.js';
import { startTestServer, type TestServer } from '../support/server.js';

async function expectStatus(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(OcrCallError);
    const e = err as OcrCallError;
    expect(e.code, e.details).to.equal(code);
    expect(e.details).to.match(message);
    return;
  }
  expect.fail(`expected ${code}, but the call succeeded`);
}

/** What a refusal of an image that does not decode tells the caller to do, whatever the format and the damage. */
const SEND_IT_WHOLE = 'send the whole file as it was saved, or, if it does not open in an image viewer either, export or scan it again';

/** Every bad input gets its precise status, and the server goes on answering good requests. */
describe('bad input over gRPC', function () {
  this.timeout(120_000);
  let t: TestServer;
  let good: Buffer;
  let jpeg: Buffer;
  before(async () => {
    t = await startTestServer({
      limits: { maxMessageBytes: 4 * 1024 * 1024 },
      engine: { decodeLimits: { maxPixels: 30_000_000, minSide: 8 } },
    });
    good = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));
    jpeg = await textImage('Invoice 2024', 360, 48, 'jpeg');
  });
  after(async () => t?.stop());

  afterEach(async () => {
    // The server still answers a good request after each bad one.
    const r = await t.client.recognize(good);
    expect(r.lines.map((l) => l.text).join('')).to.contain('各区县人民政府');
  });

  it('empty payload → INVALID_ARGUMENT, timed with its code as the handler answers it', async () => {
    const before = (await errorAnswerTimes(t.server.metrics, 'Recognize', 'INVALID_ARGUMENT')).count;
    await expectStatus(t.client.recognize(Buffer.alloc(0)), 'INVALID_ARGUMENT', /image is empty/);
    expect((await errorAnswerTimes(t.server.metrics, 'Recognize', 'INVALID_ARGUMENT')).count).to.equal(before + 1);
  });

  it('bytes that are no image → INVALID_ARGUMENT naming the formats', () =>
    expectStatus(
      t.client.recognize(Buffer.from('hello, this is not an image')),
      'INVALID_ARGUMENT',
      /not a JPEG, PNG, WebP, TIFF, GIF or BMP/,
    ));

  it('a PDF → INVALID_ARGUMENT that says so and how to send its pages', () =>
    expectStatus(
      t.client.recognize(Buffer.from('%PDF-1.7\n%âãÏÓ\n1 0 obj\n<< /Type /Catalog >>\nendobj\n')),
      'INVALID_ARGUMENT',
      /^image is a PDF document, not a JPEG, PNG, WebP, TIFF, GIF or BMP file: send each page as an image/,
    ));

  it('base64 text instead of bytes → INVALID_ARGUMENT', () =>
    expectStatus(t.client.recognize(Buffer.from(good.toString('base64'))), 'INVALID_ARGUMENT', /not .*base64/));

  it('truncated JPEG → INVALID_ARGUMENT that says to send the whole file', () =>
    expectStatus(
      t.client.recognize(jpeg.subarray(0, Math.floor(jpeg.length / 2))),
      'INVALID_ARGUMENT',
      new RegExp(`^JPEG image is corrupt or truncated: .+; ${SEND_IT_WHOLE}$`),
    ));

  it('truncated PNG → INVALID_ARGUMENT that says to send the whole file', () =>
    expectStatus(
      t.client.recognize(good.subarray(0, Math.floor(good.length / 2))),
      'INVALID_ARGUMENT',
      new RegExp(`^PNG image is corrupt or truncated: .+; ${SEND_IT_WHOLE}$`),
    ));

  it('truncated TIFF → INVALID_ARGUMENT that says to send the whole file, not a blank page read', async () => {
    const tiff = await sharp(good).tiff().toBuffer();
    // Its last 100 bytes cut: libtiff still finds its directory, then fails to read its data (a black page before).
    await expectStatus(
      t.client.recognize(tiff.subarray(0, tiff.length - 100)),
      'INVALID_ARGUMENT',
      new RegExp(`^TIFF image is corrupt or truncated: .+; ${SEND_IT_WHOLE}$`),
    );
  });

  it('a sound image of a kind not decoded here (12-bit JPEG, extra TIFF channels) → INVALID_ARGUMENT saying so, not "corrupt"', async () => {
    await expectStatus(
      t.client.recognize(jpegFrameAs(jpeg, { marker: 0xc1, precision: 12 })),
      'INVALID_ARGUMENT',
      /^JPEG image has 12-bit samples; this server decodes JPEGs of 8 bits a sample: save it as an 8-bit JPEG, or as PNG, and send that$/,
    );
    await expectStatus(
      t.client.recognize(samplesTiff(5, 2)),
      'INVALID_ARGUMENT',
      /^TIFF image has 5 channels .*; save it as gray, RGB or CMYK/,
    );
  });

  it('a PNG of a 7 MB comment turned by its EXIF orientation → read upright (the text the probe dropped passed on to the worker)', async () => {
    // Stored a quarter turn to the left; orientation 6 turns it back.
    const stored = await sharp(jpeg).rotate(270).png().withMetadata({ orientation: 6 }).toBuffer();
    const r = await t.client.recognize(await commentFloodPng(1, stored));
    expect([r.width, r.height]).to.deep.equal([360, 48]);
    expect(r.lines.map((l) => l.text).join(' ')).to.contain('2024');
  });

  it('corrupt PNG header → INVALID_ARGUMENT that says to send the whole file', async () => {
    const bad = Buffer.from(good);
    bad.fill(0x41, 12, 40);
    await expectStatus(t.client.recognize(bad), 'INVALID_ARGUMENT', new RegExp(`^PNG image is corrupt: .+; ${SEND_IT_WHOLE}$`));
  });

  it('1×1 image → INVALID_ARGUMENT', async () =>
    expectStatus(t.client.recognize(await solidImage(1, 1)), 'INVALID_ARGUMENT', /1×1 pixels; text needs at least 8/));

  it('header claiming more pixels than the limit → RESOURCE_EXHAUSTED before decoding', async () =>
    expectStatus(
      t.client.recognize(await pngClaiming(60_000, 60_000)),
      'RESOURCE_EXHAUSTED',
      /3600000000 pixels, over this server's limit/,
    ));

  it('message over the size limit → RESOURCE_EXHAUSTED naming the limit, with a pushback of -1 (no retry helps)', async () => {
    const before = (await errorAnswerTimes(t.server.metrics, 'Recognize', 'RESOURCE_EXHAUSTED')).count;
    const err = await t.client.recognize(Buffer.alloc(5 * 1024 * 1024, 1)).then(
      () => expect.fail('expected RESOURCE_EXHAUSTED'),
      (e: unknown) => e as OcrCallError,
    );
    expect(err).to.be.instanceOf(OcrCallError);
    expect(err.code).to.equal('RESOURCE_EXHAUSTED');
    expect(err.details).to.match(/^the message is 5\.0 MiB: the request is larger than this server's limit of 4 MiB an image; scale/);
    expect(err.metadata.get('grpc-retry-pushback-ms')).to.deep.equal(['-1']);
    // Timed with its code, as refusals for load are.
    expect((await errorAnswerTimes(t.server.metrics, 'Recognize', 'RESOURCE_EXHAUSTED')).count).to.equal(before + 1);
  });

  it('RecognizeLines message over the size limit → RESOURCE_EXHAUSTED naming the limit', () =>
    expectStatus(
      t.client.recognizeLines([Buffer.alloc(3 * 1024 * 1024, 1), Buffer.alloc(3 * 1024 * 1024, 1)]),
      'RESOURCE_EXHAUSTED',
      /^the message is 6\.0 MiB: the line images of this request are larger together than this server's limit of 4 MiB/,
    ));

  it('tile message over the size limit → RESOURCE_EXHAUSTED that says to send smaller tiles', async () => {
    const call = t.client.recognizeTiles();
    const reading = (async () => {
      for await (const message of call) expect.fail(`no answer expected, got one for ${message.imageId}`);
    })();
    const tile = { imageId: 'big', x: 0, y: 0, imageWidth: 4000, imageHeight: 4000, tileIndex: 0, tileCount: 1 };
    await call.write({ ...tile, image: Buffer.alloc(5 * 1024 * 1024, 1), options: undefined }).catch(() => undefined);
    call.end();
    await expectStatus(
      reading,
      'RESOURCE_EXHAUSTED',
      /^the message is 5\.0 MiB, a tile larger than this server's limit of 4 MiB a message; send smaller tiles/,
    );
  });

  it("bytes that are not the method's protobuf message → INVALID_ARGUMENT saying what to encode, counted (grpc-js said INTERNAL)", async () => {
    const raw = new grpc.Client(t.target, grpc.credentials.createInsecure());
    const identity = (b: Buffer): Buffer => b;
    // A varint cut short: no protobuf message reads it.
    const garbage = Buffer.from([0xff, 0xff, 0xff]);
    const said =
      /^the request to \/ocr\.v1\.OcrService\/(Recognize|RecognizeTiles) is not that method's protobuf message \(.+\): encode it from proto\/ocr\/v1\/ocr\.proto/;
    try {
      const before = (await errorAnswerTimes(t.server.metrics, 'Recognize', 'INVALID_ARGUMENT')).count;
      const unary = await new Promise<grpc.ServiceError | null>((resolve) =>
        raw.makeUnaryRequest('/ocr.v1.OcrService/Recognize', identity, identity, garbage, (err) => resolve(err)),
      );
      expect(unary?.code, unary?.details).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(unary!.details).to.match(said);
      expect((await errorAnswerTimes(t.server.metrics, 'Recognize', 'INVALID_ARGUMENT')).count).to.equal(before + 1);

      const stream = raw.makeBidiStreamRequest('/ocr.v1.OcrService/RecognizeTiles', identity, identity);
      stream.on('data', () => undefined);
      stream.end(garbage);
      const [ended] = (await once(stream, 'error')) as [grpc.ServiceError];
      expect(ended.code, ended.details).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(ended.details).to.match(said);
    } finally {
      raw.close();
    }
  });

  /**
   * The status and message a Recognize of `good` sent by hand over HTTP/2 with `headers` is
   * answered; with `whole` false, only the start of its request is sent, and the stream left open.
   */
  async function answerByHand(headers: http2.OutgoingHttpHeaders, whole = true): Promise<[string, string]> {
    const status = await statusByHand(headers, whole);
    return [String(status['grpc-status']), decodeURIComponent(String(status['grpc-message']))];
  }

  /** The headers or trailers that carry the status of answerByHand's call. */
  async function statusByHand(headers: http2.OutgoingHttpHeaders, whole: boolean): Promise<http2.IncomingHttpHeaders> {
    const session = http2.connect(`http://${t.target}`);
    try {
      const request = RecognizeRequest.encode({ image: good, options: undefined }).finish();
      const framed = Buffer.alloc(5 + request.length);
      framed.writeUInt32BE(request.length, 1);
      framed.set(request, 5);
      const stream = session.request({
        ':method': 'POST',
        ':path': '/ocr.v1.OcrService/Recognize',
        'content-type': 'application/grpc',
        te: 'trailers',
        ...headers,
      });
      if (whole) stream.end(framed);
      else stream.write(framed.subarray(0, 100));
      stream.resume();
      const [response] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
      return response['grpc-status'] === undefined ? ((await once(stream, 'trailers')) as [http2.IncomingHttpHeaders])[0] : response;
    } finally {
      session.destroy();
    }
  }

  it('a malformed grpc-timeout → INVALID_ARGUMENT saying the format, counted (grpc-js said INTERNAL, and read 1.5S as 5 s)', async () => {
    const before = (await errorAnswerTimes(t.server.metrics, 'Recognize', 'INVALID_ARGUMENT')).count;
    for (const malformed of ['abc', '1.5S', '123456789S']) {
      expect(await answerByHand({ 'grpc-timeout': malformed })).to.deep.equal([
        String(grpc.status.INVALID_ARGUMENT),
        `grpc-timeout is '${malformed}', which is no gRPC timeout: send up to 8 digits and a unit (H, M, S, m, u or n: 30S, 1500m), or no grpc-timeout for a call without a deadline`,
      ]);
    }
    expect((await errorAnswerTimes(t.server.metrics, 'Recognize', 'INVALID_ARGUMENT')).count).to.equal(before + 3);
    expect((await answerByHand({ 'grpc-timeout': '30S' }))[0]).to.equal(String(grpc.status.OK));
  });

  it('a compressed request → UNIMPLEMENTED from the headers, uninflated (grpc-js inflated each up to 32 MB, uncounted)', async () => {
    const counted = async (method: string): Promise<number> =>
      (await t.server.metrics.requests.get()).values
        .filter((v) => v.labels.method === method && v.labels.code === 'UNIMPLEMENTED')
        .reduce((sum, v) => sum + v.value, 0);
    const before = await counted('Recognize');
    // A made-up method of the service is answered alike, but labels no metric: clients choose paths.
    await statusByHand({ ':path': '/ocr.v1.OcrService/MadeUp', 'grpc-encoding': 'gzip' }, false);
    expect(await counted('MadeUp')).to.equal(0);
    const status = await statusByHand({ 'grpc-encoding': 'gzip' }, false);
    expect(await counted('Recognize')).to.equal(before + 1);
    expect(status['grpc-status']).to.equal(String(grpc.status.UNIMPLEMENTED));
    expect(status['grpc-accept-encoding']).to.equal('identity');
    expect(decodeURIComponent(String(status['grpc-message']))).to.equal(
      "this server takes requests uncompressed, not in grpc-encoding 'gzip': images are compressed already; " +
        "send the call without compression (leave out grpc-go's grpc.UseCompressor, grpc-java's withCompression)",
    );
  });

  it('a malformed ocr-priority → INVALID_ARGUMENT from the headers, the request unread (it was refused only once all of it came)', async () => {
    expect(await answerByHand({ 'ocr-priority': 'Batch' }, false)).to.deep.equal([
      String(grpc.status.INVALID_ARGUMENT),
      "metadata ocr-priority is 'Batch'; send 'interactive' or 'batch'",
    ]);
  });

  it('options out of range → INVALID_ARGUMENT', () =>
    expectStatus(t.client.recognize(good, { minConfidence: 3 }), 'INVALID_ARGUMENT', /options.min_confidence is 3/));

  it('RecognizeLines: a bad item fails alone, the others are read', async () => {
    const r = await t.client.recognizeLines([good, Buffer.from('nope'), good]);
    expect(r.results).to.have.length(3);
    expect(r.results[0]!.text).to.contain('各区县人民政府');
    expect(r.results[1]!.error?.code).to.equal('INVALID_ARGUMENT');
    expect(r.results[2]!.text).to.equal(r.results[0]!.text);
  });

  it('RecognizeLines: bad PNGs fail alone with the statuses Recognize gives them', async () => {
    const corrupt = Buffer.from(await textImage('Total 42.00'));
    const idat = corrupt.indexOf('IDAT');
    for (let i = idat + 8; i < idat + 40; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
    const truncated = (await textImage('Total 42.00')).subarray(0, 300);
    const r = await t.client.recognizeLines([corrupt, await solidImage(1, 1), await pngClaiming(60_000, 60_000), truncated, good]);
    expect(r.results.map((x) => x.error?.code ?? 'OK')).to.deep.equal([
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
      'RESOURCE_EXHAUSTED',
      'INVALID_ARGUMENT',
      'OK',
    ]);
    expect(r.results[0]!.error!.message).to.match(new RegExp(`^PNG image is corrupt or truncated: .+; ${SEND_IT_WHOLE}$`));
    expect(r.results[1]!.error!.message).to.match(/1×1 pixels; text needs at least 8/);
    expect(r.results[2]!.error!.message).to.match(/3600000000 pixels, over this server's limit/);
    expect(r.results[3]!.error!.message).to.match(new RegExp(`^PNG image is corrupt or truncated: .+; ${SEND_IT_WHOLE}$`));
    expect(r.results[4]!.text).to.contain('各区县人民政府');
  });

  it('RecognizeLines: bad JPEGs fail alone with the statuses Recognize gives them', async () => {
    const line = await textImage('Total 42.00', 360, 48, 'jpeg');
    const tiny = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#ffffff' } })
      .jpeg()
      .toBuffer();
    const images = [jpegWithoutQuantTables(line), tiny, await jpegClaiming(60_000, 60_000), line.subarray(0, line.length >> 1), line];
    const r = await t.client.recognizeLines(images);
    expect(r.results.map((x) => x.error?.code ?? 'OK')).to.deep.equal([
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
      'RESOURCE_EXHAUSTED',
      'INVALID_ARGUMENT',
      'OK',
    ]);
    for (const [i, image] of images.slice(0, 4).entries()) {
      const whole = await t.client.recognize(image).then(
        () => null,
        (err: OcrCallError) => err,
      );
      expect(whole?.code, `image ${i} through Recognize`).to.equal(r.results[i]!.error!.code);
    }
    expect(r.results[0]!.error!.message).to.match(/JPEG image is corrupt or truncated: Quantization table 0x00 was not defined/);
    expect(r.results[1]!.error!.message).to.match(/1×1 pixels; text needs at least 8/);
    expect(r.results[2]!.error!.message).to.match(/3600000000 pixels, over this server's limit/);
    expect(r.results[3]!.error!.message).to.match(new RegExp(`^JPEG image is corrupt or truncated: .+; ${SEND_IT_WHOLE}$`));
    expect(r.results[4]!.text).to.equal('Total 42.00');
  });

  it('RecognizeLines: no images → INVALID_ARGUMENT', () =>
    expectStatus(t.client.recognizeLines([]), 'INVALID_ARGUMENT', /images is empty/));

  it('every supported format decodes: JPEG, PNG, WebP, TIFF, GIF, BMP', async () => {
    const base = sharp(good);
    const encoded: Record<string, Buffer> = {
      jpeg: await base.clone().jpeg({ quality: 95 }).toBuffer(),
      png: good,
      webp: await base.clone().webp({ lossless: true }).toBuffer(),
      tiff: await base.clone().tiff().toBuffer(),
      gif: await base.clone().gif().toBuffer(),
      bmp: await toBmp(good),
    };
    for (const [format, bytes] of Object.entries(encoded)) {
      const r = await t.client.recognize(bytes);
      expect(r.lines.map((l) => l.text).join(''), format).to.contain('人民政府');
    }
  });
});

/** A 24-bit bottom-up BMP, written by hand since sharp cannot encode BMP. */
async function toBmp(png: Buffer): Promise<Buffer> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const rowSize = Math.ceil((info.width * 3) / 4) * 4;
  const out = Buffer.alloc(54 + rowSize * info.height);
  out.write('BM', 0, 'ascii');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(info.width, 18);
  out.writeInt32LE(info.height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  out.writeUInt32LE(rowSize * info.height, 34);
  for (let y = 0; y < info.height; y++) {
    const row = 54 + (info.height - 1 - y) * rowSize;
    for (let x = 0; x < info.width; x++) {
      const i = (y * info.width + x) * 3;
      out[row + x * 3] = data[i + 2]!;
      out[row + x * 3 + 1] = data[i + 1]!;
      out[row + x * 3 + 2] = data[i]!;
    }
  }
  return out;
}

describe('a gRPC message over the size limit, in the log', function () {
  this.timeout(120_000);

  it('is logged at info as refused, with its request id, method, code and time, as an HTTP 413 is', async () => {
    const server = await spawnServer(['--max-message-mb', '1', '--workers', '1', '--log-level', 'info']);
    const client = new OcrClient(`127.0.0.1:${server.port}`, { maxAttempts: 1 });
    try {
      const err = await client.recognize(Buffer.alloc(2 * 1024 * 1024, 1), {}, { requestId: 'too-large-1' }).then(
        () => expect.fail('expected RESOURCE_EXHAUSTED'),
        (e: unknown) => e as OcrCallError,
      );
      expect(err.code).to.equal('RESOURCE_EXHAUSTED');
      const refusal = (): Record<string, unknown> | undefined =>
        server
          .stderr()
          .split('\n')
          .filter((l) => l.includes('"msg":"refused"'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)[0];
      await waitFor(() => refusal() !== undefined, 5000, 'the refusal logged');
      expect(refusal()).to.deep.include({ level: 30, requestId: 'too-large-1', method: 'Recognize', code: 'RESOURCE_EXHAUSTED' });
      expect(refusal()!.message).to.match(/^the message is 2\.0 MiB/);
      expect(refusal()!.ms).to.be.a('number');
    } finally {
      client.close();
      server.child.kill('SIGKILL');
    }
  });
});
