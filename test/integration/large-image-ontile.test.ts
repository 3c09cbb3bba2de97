/**
 * recognizeLargeImage and recognizeLargeImageSpread whose caller's onTile throws: the call fails with
 * that error, and its streams are cancelled, so that no instance goes on reading an image nobody
 * waits for. recognizeLargeImage half-closed its stream instead: the instance read every tile sent
 * and merged them, and the call held the caller's process open until its answer or its deadline. The
 * spread waited for a slow instance's answers, which nobody would take, until they came or the
 * deadline passed.
 */
import { Server, type ServerDuplexStream } from '@grpc/grpc-js';
import { expect } from 'chai';
import { OcrClient, recognizeLargeImage, recognizeLargeImageSpread } from '../../src/client/index.js';
import { OcrServiceService, type OcrServiceServer, type TileRequest, type TileResponse } from '../../src/gen/ocr/v1/ocr.js';
import { bindLoopback } from '../../src/dev/free-port.js';
import { textImage } from '../support/images.js';

type TileStream = ServerDuplexStream<TileRequest, TileResponse>;

/** What each large-image call below is given: an onTile that throws `refused`, and a deadline far off. */
const refused = new Error('the caller stopped');
const throwingOnTile = {
  tileSize: 256,
  deadlineMs: 600_000,
  onTile: (): void => {
    throw refused;
  },
};

/** How a call ended: its error, or null. */
const failureOf = (call: Promise<unknown>): Promise<unknown> =>
  call.then(
    () => null,
    (e: unknown) => e,
  );

describe('a large image whose onTile throws', function () {
  // A stream left open fails here, well before the call's own deadline.
  this.timeout(30_000);
  let server: Server;
  let client: OcrClient;
  /** The fake instance's RecognizeTiles, set by each test. */
  let recognizeTiles: (call: TileStream) => void;
  /** Resolves once the client has cancelled the stream the test watches. */
  let cancelled: Promise<void>;
  let seen: () => void;

  beforeEach(async () => {
    cancelled = new Promise((resolve) => (seen = resolve));
    server = new Server();
    server.addService(OcrServiceService, {
      recognizeTiles: (call: TileStream) => recognizeTiles(call),
    } as Partial<OcrServiceServer> as OcrServiceServer);
    client = new OcrClient(`127.0.0.1:${await bindLoopback(server)}`);
  });

  afterEach(() => {
    client.close();
    server.forceShutdown();
  });

  it("recognizeLargeImage: fails with the caller's error and cancels its stream", async () => {
    // Answers each tile at once, as an instance does, and never merges: the image stays open.
    recognizeTiles = (call) => {
      call.on('data', (tile: TileRequest) =>
        call.write({
          imageId: tile.imageId,
          instanceId: 'fake-1',
          result: { $case: 'tile', value: { tileIndex: tile.tileIndex, lines: [] } },
        }),
      );
      call.once('cancelled', seen);
    };
    const image = await textImage('Invoice 2024 total 42.00 paid', 900, 64);
    expect(await failureOf(recognizeLargeImage(client, image, throwingOnTile))).to.equal(refused);
    await cancelled;
  });

  it("recognizeLargeImageSpread: fails with the caller's error and cancels the stream still waiting", async () => {
    // The first stream's tiles are read at once; the next stream's are held, as a busy instance holds them.
    let streams = 0;
    recognizeTiles = (call) => {
      if (++streams > 1) {
        call.once('cancelled', seen);
        return;
      }
      call.on('data', (tile: TileRequest) =>
        call.write({
          imageId: tile.imageId,
          instanceId: 'fake-1',
          result: { $case: 'image', value: { width: tile.imageWidth, height: tile.imageHeight, tileCount: 1, lines: [] } },
        }),
      );
      call.on('end', () => call.end());
    };
    const image = await textImage('Invoice 2024 total 42.00 paid', 900, 64);
    expect(await failureOf(recognizeLargeImageSpread(client, image, { ...throwingOnTile, streams: 2 }))).to.equal(refused);
    await cancelled;
  });
});
