/**
 * recognizeLargeImage whose caller's onTile throws: the call fails with that error, and its stream is
 * cancelled, so that the instance stops reading an image nobody waits for. It was half-closed
 * instead: the instance read every tile sent and merged them, and the call held the caller's process
 * open, until its answer or its deadline.
 */
import { Server, type ServerDuplexStream } from '@grpc/grpc-js';
import { expect } from 'chai';
import { OcrClient, recognizeLargeImage } from '../../src/client/index.js';
import { OcrServiceService, type OcrServiceServer, type TileRequest, type TileResponse } from '../../src/gen/ocr/v1/ocr.js';
import { bindLoopback } from '../../src/dev/free-port.js';
import { textImage } from '../support/images.js';

describe('recognizeLargeImage whose onTile throws', function () {
  // A stream left open fails here, well before the call's own deadline.
  this.timeout(30_000);
  let server: Server;
  let client: OcrClient;
  /** Resolves once the client has cancelled the instance's stream (a half-closed one stays open: the image is not merged). */
  let cancelled: Promise<unknown>;

  before(async () => {
    server = new Server();
    let seen!: () => void;
    cancelled = new Promise<void>((resolve) => (seen = resolve));
    const fake: Partial<OcrServiceServer> = {
      // Answers each tile at once, as an instance does, and never merges: the image stays open.
      recognizeTiles: (call: ServerDuplexStream<TileRequest, TileResponse>) => {
        call.on('data', (tile: TileRequest) =>
          call.write({
            imageId: tile.imageId,
            instanceId: 'fake-1',
            result: { $case: 'tile', value: { tileIndex: tile.tileIndex, lines: [] } },
          }),
        );
        call.once('cancelled', seen);
      },
    };
    server.addService(OcrServiceService, fake as OcrServiceServer);
    client = new OcrClient(`127.0.0.1:${await bindLoopback(server)}`);
  });

  after(() => {
    client.close();
    server.forceShutdown();
  });

  it("fails with the caller's error and cancels its stream", async () => {
    const image = await textImage('Invoice 2024 total 42.00 paid', 900, 64);
    const refused = new Error('the caller stopped');
    const err: unknown = await recognizeLargeImage(client, image, {
      tileSize: 256,
      deadlineMs: 600_000,
      onTile: () => {
        throw refused;
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.equal(refused);
    await cancelled;
  });
});
