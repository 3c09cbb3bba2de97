/**
 * The client against an in-process fake of OcrService (no engine): requests as sent, deadlines,
 * cancellation, status mapping, and tile streaming down to the pixels of each tile.
 */

import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { expect } from 'chai';
import { InterceptingCall, Metadata, Server, status as Status, type Interceptor, type ServerErrorResponse } from '@grpc/grpc-js';
import sharp from 'sharp';

import {
  CALLER_CANCELLED,
  CLIENT_CLOSED,
  DEADLINE_NO_INSTANCE,
  DEADLINE_PASSED,
  OcrCallError,
  OcrClient,
  STREAM_CONNECTION_LOST,
  TileStream,
  recognizeLargeImage,
  recognizeLargeImageSpread,
  type TileLines,
} from '../../src/client/index.js';
import { OcrServiceService, type OcrServiceServer, type RecognizeRequest, type TileRequest } from '../../src/gen/ocr/v1/ocr.js';
import { bindLoopback } from '../../src/dev/free-port.js';
import { tcpRelay } from '../support/tcp-relay.js';

function statusError(code: Status, details: string): ServerErrorResponse {
  return Object.assign(new Error(details), { code, details });
}

/** A random RGB image, so that any misplaced pixel in a tile shows. */
async function noise(width: number, height: number): Promise<{ raw: Buffer; png: Buffer }> {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7919 + (i >> 5) * 104729) & 0xff;
  const png = await sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
  return { raw, png };
}

describe('OcrClient against a fake server', () => {
  let server: Server;
  let client: OcrClient;
  let port: number;
  let lastRecognize: RecognizeRequest | null = null;
  /** Tiles per image id, as the fake server received them. */
  const received = new Map<string, TileRequest[]>();
  /** Told of each call the fake refuses for load ('full'), with how many it has refused so far. */
  let onFull: (count: number) => void = () => undefined;
  let fullRefusals = 0;
  /** Told when the fake receives a tile of image 'hold', which it never answers. */
  let onHeld: () => void = () => undefined;
  /** The metadata of the last GetServerInfo the fake received. */
  let infoMetadata: Metadata | null = null;

  const fake: OcrServiceServer = {
    recognize(call, callback) {
      lastRecognize = call.request;
      const text = call.request.image.toString();
      if (text === 'bad') return callback(statusError(Status.INVALID_ARGUMENT, 'image is not a JPEG, PNG file'));
      if (text === 'full') {
        // A refusal for load whose hint is long: the client waits it out before its third attempt.
        const metadata = new Metadata();
        metadata.set('grpc-retry-pushback-ms', '20000');
        callback(Object.assign(statusError(Status.RESOURCE_EXHAUSTED, 'server full'), { metadata }));
        onFull(++fullRefusals);
        return;
      }
      const respond = (): void =>
        callback(null, {
          lines: [
            {
              text: 'hello',
              confidence: 0.5,
              box: [
                { x: 1, y: 2 },
                { x: 3, y: 2 },
                { x: 3, y: 4 },
                { x: 1, y: 4 },
              ],
            },
          ],
          width: 10,
          height: 20,
          rotation: 0,
          cached: false,
          instanceId: 'fake-1',
        });
      if (text === 'slow') setTimeout(respond, 1000);
      else respond();
    },
    recognizeLines(call, callback) {
      callback(null, {
        results: call.request.images.map((image) => ({ text: image.toString().toUpperCase(), confidence: 1 })),
        instanceId: 'fake-1',
      });
    },
    getServerInfo(call, callback) {
      infoMetadata = call.metadata;
      callback(null, {
        instanceId: 'fake-1',
        serverVersion: '0',
        manifest: '',
        models: [],
        dictionarySize: 0,
        workers: 2,
        threadsPerWorker: 1,
      });
    },
    recognizeTiles(call) {
      call.on('data', (tile: TileRequest) => {
        if (tile.imageId === 'hold') {
          onHeld();
          return;
        }
        if (tile.imageId === 'reject') {
          call.emit('error', statusError(Status.INVALID_ARGUMENT, 'tile 0 is malformed'));
          return;
        }
        const tiles = received.get(tile.imageId) ?? [];
        tiles.push(tile);
        received.set(tile.imageId, tiles);
        const line = { text: `${tile.imageId}#${tile.tileIndex}`, confidence: 0.9, box: [] };
        call.write({
          imageId: tile.imageId,
          instanceId: 'fake-1',
          result: { $case: 'tile', value: { tileIndex: tile.tileIndex, lines: [line] } },
        });
        if (tiles.length === tile.tileCount) {
          call.write({
            imageId: tile.imageId,
            instanceId: 'fake-1',
            result: {
              $case: 'image',
              value: {
                width: tile.imageWidth,
                height: tile.imageHeight,
                tileCount: tile.tileCount,
                lines: [{ ...line, text: `${tile.imageId} merged` }],
              },
            },
          });
        }
      });
      call.on('end', () => call.end());
    },
  };

  before(async () => {
    server = new Server();
    server.addService(OcrServiceService, fake);
    port = await bindLoopback(server);
    client = new OcrClient(`127.0.0.1:${port}`, { deadlineMs: 5000 });
  });

  after(() => {
    client.close();
    server.forceShutdown();
  });

  beforeEach(() => received.clear());

  it('sends the image and options and returns the response', async () => {
    const response = await client.recognize(new TextEncoder().encode('ok'), { minConfidence: 0.25, useAngleCls: true });
    expect(response.instanceId).to.equal('fake-1');
    expect(response.lines[0]!.text).to.equal('hello');
    expect(lastRecognize!.image.toString()).to.equal('ok');
    expect(lastRecognize!.options).to.deep.include({ minConfidence: 0.25, useAngleCls: true });
  });

  it("runs the caller's own interceptors (channelOptions.interceptors) beside the token and the metadata limit it adds", async () => {
    let seen = 0;
    const counting: Interceptor = (options, next) => {
      seen++;
      return new InterceptingCall(next(options));
    };
    const withToken = new OcrClient(`127.0.0.1:${port}`, { token: 'secret-token', channelOptions: { interceptors: [counting] } });
    try {
      await withToken.getServerInfo();
      expect(seen).to.equal(1);
      expect(infoMetadata!.get('authorization')).to.deep.equal(['Bearer secret-token']);
    } finally {
      withToken.close();
    }
  });

  it('raises a server status as OcrCallError with its name, number and details', async () => {
    const err = await client.recognize(Buffer.from('bad')).then(
      () => expect.fail('expected a rejection'),
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(OcrCallError);
    const callError = err as OcrCallError;
    expect(callError.code).to.equal('INVALID_ARGUMENT');
    expect(callError.status).to.equal(Status.INVALID_ARGUMENT);
    expect(callError.details).to.equal('image is not a JPEG, PNG file');
    expect(callError.message).to.equal('Recognize: INVALID_ARGUMENT: image is not a JPEG, PNG file');
  });

  it('gives every call a deadline', async () => {
    const err = await client.recognize(Buffer.from('slow'), undefined, { deadlineMs: 100 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OcrCallError);
    expect((err as OcrCallError).code).to.equal('DEADLINE_EXCEEDED');
  });

  it('says a passed deadline is no instance ready, not a slow answer, for a target that accepts TCP and never speaks HTTP/2', async () => {
    const silent = net.createServer((socket) => socket.on('error', () => undefined));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const target = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      for (const loadBalancing of ['least_request', 'round_robin', 'pick_first'] as const) {
        const stuck = new OcrClient(target, { deadlineMs: 300, loadBalancing });
        const err = await stuck.getServerInfo().catch((e: unknown) => e);
        stuck.close();
        expect(err).to.be.instanceOf(OcrCallError);
        expect((err as OcrCallError).code, loadBalancing).to.equal('DEADLINE_EXCEEDED');
        expect((err as OcrCallError).details, loadBalancing).to.equal(DEADLINE_NO_INSTANCE);
      }
      // A call that reached an instance and timed out there keeps the other wording.
      const slow = await client.recognize(Buffer.from('slow'), undefined, { deadlineMs: 100 }).catch((e: unknown) => e);
      expect((slow as OcrCallError).details).to.equal(DEADLINE_PASSED);
    } finally {
      silent.close();
    }
  });

  it('cancels a call when its signal aborts', async () => {
    const controller = new AbortController();
    const pending = client.recognize(Buffer.from('slow'), undefined, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const err = await pending.catch((e: unknown) => e);
    expect((err as OcrCallError).code).to.equal('CANCELLED');
  });

  it('answers RecognizeLines and GetServerInfo', async () => {
    const lines = await client.recognizeLines([Buffer.from('a'), new Uint8Array([0x62])]);
    expect(lines.results.map((r) => r.text)).to.deep.equal(['A', 'B']);
    const info = await client.getServerInfo();
    expect(info).to.deep.include({ instanceId: 'fake-1', workers: 2 });
  });

  it('fails a call made after close() with CANCELLED, an OcrCallError as every failure', async () => {
    const closed = new OcrClient(`127.0.0.1:${port}`);
    closed.close();
    const err = await closed.getServerInfo().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OcrCallError);
    expect((err as OcrCallError).code).to.equal('CANCELLED');
    expect((err as OcrCallError).details).to.match(/OcrClient is closed/);
    expect(() => closed.recognizeTiles()).to.throw(OcrCallError, /OcrClient is closed/);
  });

  it("fails calls still waiting for a connection when close() comes with CANCELLED, saying the client closed, not grpc-js's UNAVAILABLE", async () => {
    const closing = new OcrClient(`127.0.0.1:${port}`);
    // Made before close(), on a channel that has not connected yet: neither is sent.
    const unary = closing.recognize(Buffer.from('hello')).catch((e: unknown) => e);
    const tiles = closing.recognizeTiles();
    closing.close();
    const streamed = await (async () => {
      for await (const message of tiles) expect.fail(`no answer expected, got ${JSON.stringify(message)}`);
    })().catch((e: unknown) => e);
    for (const [how, err] of [
      ['Recognize', await unary],
      ['RecognizeTiles', streamed],
    ] as const) {
      expect(err, how).to.be.instanceOf(OcrCallError);
      expect((err as OcrCallError).code, how).to.equal('CANCELLED');
      expect((err as OcrCallError).details, how).to.equal(CLIENT_CLOSED);
      expect((err as OcrCallError).message, how).to.equal(`${how}: CANCELLED: ${CLIENT_CLOSED}`);
    }
  });

  it('close() ends a call waiting to be retried after a refusal for load, with CANCELLED', async () => {
    const closing = new OcrClient(`127.0.0.1:${port}`, { deadlineMs: 120_000 });
    const from = fullRefusals;
    const secondRefusal = new Promise<void>((resolve) => {
      onFull = (count) => {
        if (count === from + 2) resolve();
      };
    });
    const pending = closing.recognize(Buffer.from('full')).catch((e: unknown) => e);
    // Refused twice (the second attempt goes at once); the third waits for the 20 s hint.
    await secondRefusal;
    closing.close();
    const err = await pending;
    expect(err).to.be.instanceOf(OcrCallError);
    expect((err as OcrCallError).code).to.equal('CANCELLED');
    expect(fullRefusals - from, 'no attempt after close()').to.equal(2);
  });

  it('says a call its caller aborted was cancelled by the caller, before it was sent, while it ran, or while it waited to be retried', async () => {
    const before = await client.getServerInfo({ signal: AbortSignal.abort() }).catch((e: unknown) => e);
    const running = new AbortController();
    const slow = client.recognize(Buffer.from('slow'), undefined, { signal: running.signal }).catch((e: unknown) => e);
    setTimeout(() => running.abort(), 50);
    const waiting = new AbortController();
    const from = fullRefusals;
    const secondRefusal = new Promise<void>((resolve) => {
      onFull = (count) => {
        if (count === from + 2) resolve();
      };
    });
    const full = client.recognize(Buffer.from('full'), undefined, { signal: waiting.signal, deadlineMs: 60_000 }).catch((e: unknown) => e);
    // Refused twice; the third attempt waits for the 20 s hint.
    await secondRefusal;
    waiting.abort();
    for (const [when, err] of [
      ['before it was sent', before],
      ['while it ran', await slow],
      ['while it waited to be retried', await full],
    ] as const) {
      expect(err, when).to.be.instanceOf(OcrCallError);
      expect((err as OcrCallError).code, when).to.equal('CANCELLED');
      expect((err as OcrCallError).details, when).to.equal(CALLER_CANCELLED);
    }
  });

  it('takes a signal shared by more calls than Node allows listeners without a leak warning, running or waiting to be retried', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const calls = 12;
    const from = fullRefusals;
    const refusedTwice = new Promise<void>((resolve) => {
      onFull = (count) => {
        if (count === from + 2 * calls) resolve();
      };
    });
    // A service's shutdown signal, passed to every call; each call, refused twice, then waits for the 20 s hint.
    const shutdown = new AbortController();
    const full = Array.from({ length: calls }, () =>
      client.recognize(Buffer.from('full'), undefined, { signal: shutdown.signal, deadlineMs: 60_000 }).catch((e: unknown) => e),
    );
    await refusedTwice;
    shutdown.abort();
    const errors = await Promise.all(full);
    // Node emits its warnings on a later turn: one more round trip lets any reach the listener.
    await client.getServerInfo();
    process.off('warning', onWarning);
    expect(warnings).to.deep.equal([]);
    for (const err of errors) expect(err).to.include({ code: 'CANCELLED', details: CALLER_CANCELLED });
  });

  it('refuses a nonsensical default deadline', () => {
    expect(() => new OcrClient('127.0.0.1:1', { deadlineMs: 0 })).to.throw(RangeError, /deadlineMs/);
  });

  it('streams a large image as exact PNG tiles and resolves with the merged lines', async () => {
    const width = 300;
    const height = 200;
    const { raw, png } = await noise(width, height);
    const seen: TileLines[] = [];
    const result = await recognizeLargeImage(client, png, {
      tileSize: 128,
      overlap: 16,
      imageId: 'img',
      options: { minConfidence: 0.25 },
      onTile: (t) => seen.push(t),
    });

    const tiles = received.get('img')!;
    expect(tiles).to.have.length(6); // 3 columns × 2 rows
    expect(result).to.deep.include({ width, height, tiles: 6, instanceId: 'fake-1' });
    expect(result.lines.map((l) => l.text)).to.deep.equal(['img merged']);
    expect(seen.map((t) => t.tileIndex)).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(tiles[0]!.options).to.deep.include({ minConfidence: 0.25 });
    expect(tiles[1]!.options).to.equal(undefined);
    for (const [index, tile] of tiles.entries()) {
      expect(tile).to.deep.include({ tileIndex: index, tileCount: 6, imageWidth: width, imageHeight: height });
      const { data, info } = await sharp(tile.image).raw().toBuffer({ resolveWithObject: true });
      for (let row = 0; row < info.height; row++) {
        const start = ((tile.y + row) * width + tile.x) * 3;
        const expected = raw.subarray(start, start + info.width * 3);
        expect(data.subarray(row * info.width * 3, (row + 1) * info.width * 3).equals(expected), `tile ${index} row ${row}`).to.equal(true);
      }
    }
  });

  it('cuts tiles from the EXIF-oriented image', async () => {
    // Stored 200×100 with orientation 6 (rotate 90° clockwise to view): 100 wide, 200 high, so two
    // 105 px rows (200 px with ≥ 10 px overlap) and one column.
    const { png } = await noise(200, 100);
    const jpeg = await sharp(png).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const result = await recognizeLargeImage(client, jpeg, { tileSize: 150, overlap: 10, imageId: 'rotated' });
    expect(result).to.deep.include({ width: 100, height: 200, tiles: 2 });
    expect(received.get('rotated')!.map((t) => [t.x, t.y])).to.deep.equal([
      [0, 0],
      [0, 95],
    ]);
  });

  it('carries several images on one stream', async () => {
    const [a, b] = await Promise.all([noise(90, 40), noise(40, 90)]);
    const stream = new TileStream(client.recognizeTiles());
    const results = await Promise.all([
      stream.recognize(a.png, { tileSize: 50, overlap: 8, imageId: 'a' }),
      stream.recognize(b.png, { tileSize: 50, overlap: 8, imageId: 'b' }),
    ]);
    stream.end();
    expect(results.map((r) => [r.width, r.height, r.lines[0]!.text])).to.deep.equal([
      [90, 40, 'a merged'],
      [40, 90, 'b merged'],
    ]);
  });

  it('rejects with the stream status when the server fails the stream', async () => {
    const { png } = await noise(64, 64);
    const err = await recognizeLargeImage(client, png, { tileSize: 64, imageId: 'reject', overlap: 0 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OcrCallError);
    expect(err).to.deep.include({ code: 'INVALID_ARGUMENT', details: 'tile 0 is malformed' });
  });

  it('cancels a tile stream when its signal aborts', async () => {
    const { png } = await noise(64, 64);
    const controller = new AbortController();
    controller.abort();
    const err = await recognizeLargeImage(client, png, { tileSize: 32, overlap: 0, signal: controller.signal }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OcrCallError);
    expect((err as OcrCallError).code).to.equal('CANCELLED');
  });

  it('says a tile stream its caller aborted, before or while it ran, was cancelled by the caller, as a unary call does', async () => {
    const { png } = await noise(64, 64);
    const before = await recognizeLargeImage(client, png, { tileSize: 32, overlap: 0, signal: AbortSignal.abort() }).catch(
      (e: unknown) => e,
    );
    const running = new AbortController();
    const call = client.recognizeTiles({ signal: running.signal });
    const reading = (async () => {
      for await (const message of call) void message;
    })().catch((e: unknown) => e);
    running.abort();
    for (const [when, err] of [
      ['before it was sent', before],
      ['while it ran', await reading],
    ] as const) {
      expect(err, when).to.be.instanceOf(OcrCallError);
      expect((err as OcrCallError).code, when).to.equal('CANCELLED');
      expect((err as OcrCallError).details, when).to.equal(CALLER_CANCELLED);
    }
  });

  it('rejects a large image whose caller has already aborted at once, as cancelled by the caller, without decoding it', async () => {
    const notAnImage = Buffer.from('not an image');
    const streams = received.size;
    for (const [how, call] of [
      ['one stream', recognizeLargeImage(client, notAnImage, { tileSize: 32, signal: AbortSignal.abort() })],
      ['spread', recognizeLargeImageSpread(client, notAnImage, { tileSize: 32, signal: AbortSignal.abort() })],
    ] as const) {
      const err = await call.catch((e: unknown) => e);
      // Not INVALID_ARGUMENT: the bytes were never decoded.
      expect(err, how).to.be.instanceOf(OcrCallError);
      expect((err as OcrCallError).code, how).to.equal('CANCELLED');
      expect((err as OcrCallError).details, how).to.equal(CALLER_CANCELLED);
    }
    expect(received.size).to.equal(streams);
  });

  it('fails the image whose onTile throws', async () => {
    const { png } = await noise(64, 64);
    const err = await recognizeLargeImage(client, png, {
      tileSize: 32,
      overlap: 0,
      onTile: () => {
        throw new Error('consumer broke');
      },
    }).catch((e: unknown) => e);
    expect((err as Error).message).to.equal('consumer broke');
  });

  it("fails a spread image whose onTile throws with the caller's error, resending no tile to another instance", async () => {
    const { png } = await noise(256, 256);
    const broke = new Error('consumer broke');
    const err = await recognizeLargeImageSpread(client, png, {
      tileSize: 64,
      overlap: 0,
      streams: 1,
      onTile: () => {
        throw broke;
      },
    }).catch((e: unknown) => e);
    expect(err).to.equal(broke);
    // Not a lost instance: a new round would send the unanswered tiles again, and the next onTile would throw the same.
    for (const [id, tiles] of received) expect(tiles, `tile ${id}`).to.have.length(1);
  });

  /**
   * A spread over an instance that refuses every tile stream for load until its hint, counted from
   * its first refusal, is over; `refused` counts its refusals.
   */
  async function spreadOverBusyInstance(hintMs: number, deadlineMs: number): Promise<{ outcome: unknown; refused: number }> {
    let openAt = 0;
    let refused = 0;
    const busy = new Server();
    const refusing: OcrServiceServer = {
      ...fake,
      recognizeTiles(call) {
        const now = Date.now();
        if (openAt === 0 || now < openAt) {
          openAt ||= now + hintMs;
          refused++;
          const metadata = new Metadata();
          metadata.set('grpc-retry-pushback-ms', String(openAt - now));
          call.emit('error', Object.assign(statusError(Status.RESOURCE_EXHAUSTED, 'server busy'), { metadata }));
          return;
        }
        call.on('data', (tile: TileRequest) =>
          call.write({
            imageId: tile.imageId,
            instanceId: 'busy-1',
            result: { $case: 'image', value: { width: tile.imageWidth, height: tile.imageHeight, tileCount: 1, lines: [] } },
          }),
        );
        call.on('end', () => call.end());
      },
    };
    busy.addService(OcrServiceService, refusing);
    const spreading = new OcrClient(`127.0.0.1:${await bindLoopback(busy)}`, { deadlineMs });
    try {
      const { png } = await noise(64, 64);
      const outcome = await recognizeLargeImageSpread(spreading, png, { tileSize: 32, overlap: 0, streams: 2 }).catch((e: unknown) => e);
      return { outcome, refused };
    } finally {
      spreading.close();
      busy.forceShutdown();
    }
  }

  it('sends the next round of a spread once the hint of the instance that refused its streams for load is over', async () => {
    const { outcome, refused } = await spreadOverBusyInstance(300, 10_000);
    expect(outcome).to.include({ tiles: 4, failedStreams: 2 });
    expect((outcome as { instances: string[] }).instances).to.deep.equal(['busy-1']);
    // Both streams of the first round refused; the next round, sent once the hint was over, answered.
    expect(refused).to.equal(2);
  });

  it('ends a spread with the refusal, sending no further round, when the hint would outlast its deadline', async () => {
    const { outcome, refused } = await spreadOverBusyInstance(60_000, 5000);
    expect(outcome).to.be.instanceOf(OcrCallError);
    expect(outcome).to.include({ code: 'RESOURCE_EXHAUSTED', details: 'server busy' });
    expect(refused).to.equal(2);
  });

  it('says a tile stream whose connection was lost is not resent, and what resends its tiles, not to allow more attempts', async () => {
    const relay = tcpRelay(() => port);
    relay.server.listen(0, '127.0.0.1');
    await once(relay.server, 'listening');
    const relayed = new OcrClient(`127.0.0.1:${(relay.server.address() as AddressInfo).port}`, { deadlineMs: 5000 });
    const held = new Promise<void>((resolve) => (onHeld = resolve));
    const { png } = await noise(64, 64);
    const call = recognizeLargeImage(relayed, png, { tileSize: 32, overlap: 0, imageId: 'hold' }).catch((e: unknown) => e);
    // The instance's connection cut while it holds the stream, as when the instance dies.
    await held;
    relay.close();
    const err = await call;
    relayed.close();
    expect(err).to.be.instanceOf(OcrCallError);
    expect(err).to.include({ code: 'UNAVAILABLE', details: STREAM_CONNECTION_LOST });
    expect((err as OcrCallError).details).not.to.contain('maxAttempts');
  });

  it("says of a request over the client's own message limit that it was not sent, and how to make it smaller", async () => {
    const small = new OcrClient(`127.0.0.1:${port}`, { channelOptions: { 'grpc.max_send_message_length': 1024 } });
    try {
      lastRecognize = null;
      const one = await small.recognize(Buffer.alloc(2048, 1)).catch((e: unknown) => e);
      const lines = await small.recognizeLines([Buffer.alloc(700, 1), Buffer.alloc(700, 1)]).catch((e: unknown) => e);
      expect(lastRecognize).to.equal(null);
      for (const [err, what] of [
        [one, 'scale the image down, or send it as tiles (recognizeLargeImage)'],
        [lines, 'send fewer or smaller line images a call'],
      ] as const) {
        expect(err).to.be.instanceOf(OcrCallError);
        expect(err).to.include({
          code: 'RESOURCE_EXHAUSTED',
          details: `the request is larger than this client sends in one message (1024 bytes, its channel option grpc.max_send_message_length), and was not sent: ${what}`,
        });
      }
    } finally {
      small.close();
    }
  });

  it('refuses an unreadable image before opening a call', async () => {
    const err = await recognizeLargeImage(client, Buffer.from('not an image'), { tileSize: 64 }).catch((e: unknown) => e);
    // As Recognize would refuse it: one catch takes both.
    expect(err).to.be.instanceOf(OcrCallError);
    expect((err as OcrCallError).code).to.equal('INVALID_ARGUMENT');
    expect(received.size).to.equal(0);
  });
});
