import { expect } from 'chai';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { OcrCallError } from '../../src/client/index.js';
import { OcrServiceService, type RecognizeResponse } from '../../src/gen/ocr/v1/ocr.js';
import { textImage } from '../support/images.js';
import { startTestServer, type TestServer } from '../support/server.js';

const HEALTH_CHECK = '/grpc.health.v1.Health/Check';
const HEALTH_WATCH = '/grpc.health.v1.Health/Watch';
const identity = (bytes: Buffer): Buffer => bytes;

/** Metadata of `count` fields, each `bytes` of random base64: HPACK can shrink none of it. */
function randomMetadata(count: number, bytes: number): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (let i = 0; i < count; i++) metadata.set(`x-field-${i}`, randomBytes((bytes * 3) / 4).toString('base64'));
  return metadata;
}

/** A gRPC status, or OK, of a health check with `metadata` on `client`'s connection. */
function check(client: grpc.Client, metadata: grpc.Metadata): Promise<{ code: number; details: string }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(HEALTH_CHECK, identity, identity, Buffer.alloc(0), metadata, (err) =>
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
    ),
  );
}

/**
 * One caller's oversized metadata must not cost the other calls on its connection: a gateway or an
 * SDK client carries many callers' calls on one. Node's HTTP/2 server fails the whole connection on a
 * header block it cannot decode (a field over 64 KiB once encoded, more than 8 CONTINUATION frames),
 * so the server bounds metadata well below that, per call, and the SDK sends no call over it.
 */
describe('metadata limits', function () {
  this.timeout(120_000);
  let t: TestServer;
  let image: Buffer;
  before(async () => {
    t = await startTestServer();
    image = await textImage('Invoice 2024 total 1234', 1200, 160);
  });
  after(async () => t?.stop());

  it('tells clients its header list limit in its SETTINGS, which clients that keep to it check before sending', async () => {
    const session = http2.connect(`http://${t.target}`);
    try {
      const [settings] = (await once(session, 'remoteSettings')) as [http2.Settings];
      expect(settings.maxHeaderListSize).to.equal(64 * 1024);
    } finally {
      session.close();
    }
  });

  it('refuses a call over 32 KiB of metadata alone, saying its size and the limit; the calls in flight on its connection complete', async () => {
    const client = new grpc.Client(t.target, grpc.credentials.createInsecure());
    try {
      // In flight for as long as the test runs: a watch ended by anything but its cancel was cut off.
      const watch = client.makeServerStreamRequest(HEALTH_WATCH, identity, identity, Buffer.alloc(0), new grpc.Metadata());
      const watchEnd = new Promise<number>((resolve) => watch.on('error', (err: grpc.ServiceError) => resolve(err.code)));
      await once(watch, 'data');
      const { recognize } = OcrServiceService;
      const recognized = new Promise<RecognizeResponse>((resolve, reject) =>
        client.makeUnaryRequest(recognize.path, recognize.requestSerialize, recognize.responseDeserialize, { image }, (err, reply) =>
          err ? reject(err) : resolve(reply!),
        ),
      );
      // 40 KiB: over the limit, under what fails the connection in Node.
      const refused = await check(client, randomMetadata(20, 2048));
      expect(refused.code, refused.details).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(refused.details).to.match(
        /^the call's metadata is 4\d\.\d KiB .* over this server's 32 KiB: send fewer or shorter metadata entries/,
      );
      // Many small fields are no harm: Node's default of 128 fields reset such a call ("Bandwidth exhausted").
      const many = new grpc.Metadata();
      for (let i = 0; i < 200; i++) many.set(`x-baggage-${i}`, 'v');
      expect(await check(client, many)).to.deep.equal({ code: grpc.status.OK, details: '' });
      expect((await recognized).lines.map((l) => l.text).join(' ')).to.contain('Invoice');
      watch.cancel();
      expect(await watchEnd).to.equal(grpc.status.CANCELLED);
    } finally {
      client.close();
    }
  });

  it("the SDK sends no call over the servers' limit: it fails alone, INVALID_ARGUMENT, and the call in flight completes", async () => {
    // 100 KiB of random base64 encodes to over 64 KiB: the server's HPACK decoder would fail the connection.
    const token = randomBytes(75 * 1024).toString('base64');
    await t.client.getServerInfo(); // connected: the two calls below go out in order on one connection
    const inFlight = t.client.recognize(image);
    const refused = await t.client.recognize(image, {}, { token }).then(
      () => expect.fail('a call with 100 KiB of metadata was answered'),
      (err: unknown) => err,
    );
    expect(refused).to.be.instanceOf(OcrCallError);
    expect((refused as OcrCallError).code).to.equal('INVALID_ARGUMENT');
    expect((refused as OcrCallError).details).to.match(
      /^the call's metadata is 100\.\d KiB, over the 31 KiB the servers take .*\(this call was not sent\)$/,
    );
    expect((await inFlight).lines.map((l) => l.text).join(' ')).to.contain('Invoice');
  });
});
