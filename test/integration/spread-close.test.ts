/**
 * recognizeLargeImageSpread waiting out an instance's hint before its next round, as its client
 * closes (a service shutting down): the call ends then, CANCELLED as the client is closed. It waited
 * out the hint first, up to its deadline, as no unary call of the client does.
 */
import { once } from 'node:events';
import { Metadata, Server, status as Status, type ServerDuplexStream, type ServerErrorResponse } from '@grpc/grpc-js';
import { expect } from 'chai';
import { CLIENT_CLOSED, OcrCallError, OcrClient, recognizeLargeImageSpread } from '../../src/client/index.js';
import { OcrServiceService, type OcrServiceServer, type TileRequest, type TileResponse } from '../../src/gen/ocr/v1/ocr.js';
import { bindLoopback } from '../../src/dev/free-port.js';
import { textImage } from '../support/images.js';

describe('recognizeLargeImageSpread whose client closes while it waits out a hint', function () {
  // A wait not cut short fails here, well before the hint is over.
  this.timeout(30_000);
  let server: Server;
  const refusals = new EventTarget();

  before(async () => {
    server = new Server();
    const fake: Partial<OcrServiceServer> = {
      // Every stream refused for load, to be retried in 10 minutes.
      recognizeTiles: (call: ServerDuplexStream<TileRequest, TileResponse>) => {
        const trailers = new Metadata();
        trailers.set('grpc-retry-pushback-ms', '600000');
        const refusal: ServerErrorResponse = Object.assign(new Error('overloaded'), {
          code: Status.RESOURCE_EXHAUSTED,
          details: 'overloaded',
          metadata: trailers,
        });
        call.emit('error', refusal);
        refusals.dispatchEvent(new Event('refused'));
      },
    };
    server.addService(OcrServiceService, fake as OcrServiceServer);
  });

  after(() => server.forceShutdown());

  it('ends CANCELLED, the client closed', async () => {
    const client = new OcrClient(`127.0.0.1:${await bindLoopback(server)}`);
    const image = await textImage('Invoice 2024 total 42.00 paid', 900, 64);
    const refused = once(refusals, 'refused');
    const call = recognizeLargeImageSpread(client, image, { tileSize: 256, streams: 1, deadlineMs: 1_200_000 }).then(
      () => null,
      (e: unknown) => e,
    );
    await refused;
    client.close();
    const err = await call;
    expect(err).to.be.instanceOf(OcrCallError);
    expect((err as OcrCallError).details).to.equal(CLIENT_CLOSED);
  });
});
