import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { collectBody } from '../../src/http/body-collector.js';

/** A body sent as `chunks`, then ended (or failed with `error`). */
function sent(chunks: Buffer[], error?: Error): PassThrough {
  const stream = new PassThrough();
  stream.pause();
  setImmediate(() => {
    for (const chunk of chunks) stream.write(chunk);
    if (error) stream.destroy(error);
    else stream.end();
  });
  return stream;
}

const bytes = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

describe('collectBody', () => {
  it('reads a body of a declared length whole, the chunks before and after its buffer is made alike', async () => {
    const chunks = [bytes(10, 1), bytes(30, 2), bytes(60, 3), bytes(100, 4)];
    const body = await collectBody(sent(chunks), '200', 1000);
    expect(body.equals(Buffer.concat(chunks))).to.equal(true);
  });

  it('reads a body without a length, and an empty one', async () => {
    const chunks = [bytes(5, 7), bytes(3, 8)];
    expect((await collectBody(sent(chunks), undefined, 1000)).equals(Buffer.concat(chunks))).to.equal(true);
    expect((await collectBody(sent([]), '0', 1000)).length).to.equal(0);
    expect((await collectBody(sent([]), undefined, 1000)).length).to.equal(0);
  });

  it('never hands back a chunk itself, only a copy', async () => {
    const chunk = bytes(64, 9);
    for (const length of ['64', undefined]) {
      const body = await collectBody(sent([chunk]), length, 1000);
      chunk.fill(0);
      expect(body.every((b) => b === 9)).to.equal(true);
      chunk.fill(9);
    }
  });

  it("refuses as Fastify's reader does: over the limit, declared or sent; a length that the body does not match", async () => {
    const refusal = (promise: Promise<Buffer>): Promise<string> =>
      promise.then(
        () => 'read',
        (err: { code: string }) => err.code,
      );
    expect(await refusal(collectBody(sent([bytes(10, 1)]), '2000', 1000))).to.equal('FST_ERR_CTP_BODY_TOO_LARGE');
    expect(await refusal(collectBody(sent([bytes(600, 1), bytes(600, 1)]), undefined, 1000))).to.equal('FST_ERR_CTP_BODY_TOO_LARGE');
    expect(await refusal(collectBody(sent([bytes(10, 1)]), '20', 1000))).to.equal('FST_ERR_CTP_INVALID_CONTENT_LENGTH');
    expect(await refusal(collectBody(sent([bytes(30, 1)]), '20', 1000))).to.equal('FST_ERR_CTP_INVALID_CONTENT_LENGTH');
  });

  it("fails with the stream's error, a 400 unless it names another status", async () => {
    const failure = (error: Error): Promise<Error & { statusCode?: number }> =>
      collectBody(sent([bytes(10, 1)], error), '100', 1000).then(
        () => {
          throw new Error('read');
        },
        (err: Error & { statusCode?: number }) => err,
      );
    const aborted = await failure(new Error('aborted'));
    expect([aborted.message, aborted.statusCode]).to.deep.equal(['aborted', 400]);
    const stalled = Object.assign(new Error('stalled'), { statusCode: 429 });
    expect((await failure(stalled)).statusCode).to.equal(429);
  });
});
