/**
 * recognizeLargeImageSpread whose caller's onTile throws while another stream still waits on a slow
 * instance: the call fails at once and the waiting stream is cancelled. It waited instead for that
 * instance's answers, which nobody would take, until they came or the deadline passed.
 */
import { Server, type ServerDuplexStream } from '@grpc/grpc-js';
import { expect } from 'chai';
import { OcrClient, recognizeLargeImageSpread } from '../../src/client/index.js';
import { OcrServiceService, type OcrServiceServer, type TileRequest, type TileResponse } from '../../src/gen/ocr/v1/ocr.js';
import { bindLoopback } from '../../src/dev/free-port.js';
import { textImage } from '../support/images.js';

describe('recognizeLargeImageSpread whose onTile throws', function () {
  // A stream left waiting fails here, well before the call's own deadline.
  this.timeout(30_000);
  let server: Server;
  let client: OcrClient;
  /** Resolves once the client has cancelled the stream the instance holds unanswered. */
  let heldCancelled: Promise<void>;

  before(async () => {
    server = new Server();
    let seen!: () => void;
    heldCancelled = new Promise((resolve) => (seen = resolve));
    let streams = 0;
    const fake: Partial<OcrServiceServer> = {
      // The first stream's tiles are read at once; the next stream's are held, as a busy instance holds them.
      recognizeTiles: (call: ServerDuplexStream<TileRequest, TileResponse>) => {
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
      },
    };
    server.addService(OcrServiceService, fake as OcrServiceServer);
    client = new OcrClient(`127.0.0.1:${await bindLoopback(server)}`);
  });

  after(() => {
    client.close();
    server.forceShutdown();
  });

  it("fails with the caller's onTile error and cancels the stream still waiting", async () => {
    const image = await textImage('Invoice 2024 total 42.00 paid', 900, 64);
    const refused = new Error('the caller stopped');
    const err: unknown = await recognizeLargeImageSpread(client, image, {
      tileSize: 256,
      streams: 2,
      deadlineMs: 600_000,
      onTile: () => {
        throw refused;
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.equal(refused);
    await heldCancelled;
  });
});
