/**
 * A RecognizeTiles call that the client ends before sending it, as it makes the call (its token
 * function throws, its metadata is over the servers' limit, its signal had aborted while its token
 * was awaited): reading it throws the OcrCallError that says why. The client's interceptors ended
 * such a call at once, inside recognizeTiles, before the stream had a listener for its 'error': the
 * error was thrown out of recognizeTiles as grpc-js's raw Error, or crashed the process. So did a
 * signal that is no AbortSignal, refused only once the stream was open.
 */
import { expect } from 'chai';
import { CALLER_CANCELLED, OcrCallError, OcrClient, type CallSettings, type OcrClientOptions } from '../../src/client/index.js';
import { closedPort } from '../support/closed-port.js';

describe('a tile stream the client ends unsent', function () {
  this.timeout(20_000);
  let target: string;
  let client: OcrClient | undefined;

  before(async () => {
    // Nothing is sent: no server is needed, and none answers there.
    target = `127.0.0.1:${await closedPort()}`;
  });

  afterEach(() => client?.close());

  /** The error reading a stream opened with `options` and `settings` throws. */
  async function readingFails(options: OcrClientOptions, settings: CallSettings = {}): Promise<OcrCallError> {
    client = new OcrClient(target, options);
    const stream = client.recognizeTiles(settings);
    const err: unknown = await (async () => {
      for await (const message of stream) expect.fail(`no answer expected, got ${JSON.stringify(message)}`);
    })().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(OcrCallError);
    return err as OcrCallError;
  }

  it('its token function throws: UNAUTHENTICATED, naming the failure', async () => {
    const err = await readingFails({
      token: () => {
        throw new Error('the vault is sealed');
      },
    });
    expect(err.code).to.equal('UNAUTHENTICATED');
    expect(err.details).to.equal('no token to send: the token function failed: the vault is sealed');
  });

  it("its metadata is over the servers' limit: INVALID_ARGUMENT", async () => {
    const err = await readingFails({}, { requestId: 'r'.repeat(40_000) });
    expect(err.code).to.equal('INVALID_ARGUMENT');
    expect(err.details).to.match(/\(this call was not sent\)$/);
  });

  it('its signal is no AbortSignal (an untyped caller passed the controller): a TypeError, and no call left open to fail unheard', async () => {
    client = new OcrClient(target, { deadlineMs: 1000 });
    const controller = new AbortController() as unknown as AbortSignal;
    const message = "signal must be an AbortSignal (an AbortController's .signal), got an AbortController";
    expect(() => client!.recognizeTiles({ signal: controller })).to.throw(TypeError, message);
    const err: unknown = await client.getServerInfo({ signal: controller }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TypeError).and.have.property('message', message);
    // A stream opened before the refusal would fail once the client closes, its 'error' unheard: a crash.
    client.close();
    await new Promise((resolve) => setImmediate(resolve));
  });

  it('its signal had aborted, its async token still awaited: CANCELLED by the caller', async () => {
    const err = await readingFails({ token: () => new Promise<string>(() => undefined) }, { signal: AbortSignal.abort() });
    expect(err.code).to.equal('CANCELLED');
    expect(err.details).to.equal(CALLER_CANCELLED);
  });
});
