/**
 * A client whose token function is async (a token fetched from an identity provider): a call that
 * ends while its token has not come yet (its caller aborts, its deadline passes, its client closes)
 * ends then, unsent, with that end's error. grpc-js's call is not started until the token comes, and
 * such a call reported none of those ends: its promise never settled, with no deadline or with one.
 */
import { Server } from '@grpc/grpc-js';
import { expect } from 'chai';
import { CALLER_CANCELLED, CLIENT_CLOSED, OcrCallError, OcrClient, TOKEN_LATE } from '../../src/client/index.js';
import { OcrServiceService, ServerInfo, type OcrServiceServer } from '../../src/gen/ocr/v1/ocr.js';
import { bindLoopback } from '../../src/dev/free-port.js';

const info = ServerInfo.fromPartial({ instanceId: 'fake-1' });

/** A token function whose tokens come when the test says. */
class HeldTokens {
  private readonly waiting: ((token: string) => void)[] = [];
  private onAsk!: () => void;
  /** Resolves once the function has been asked for a token. */
  readonly asked = new Promise<void>((resolve) => (this.onAsk = resolve));

  readonly source = (): Promise<string> => {
    this.onAsk();
    return new Promise((resolve) => this.waiting.push(resolve));
  };

  /** Gives every token asked for so far. */
  give(token: string): void {
    for (const resolve of this.waiting.splice(0)) resolve(token);
  }
}

async function failure(call: Promise<unknown>): Promise<OcrCallError> {
  const err: unknown = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).to.be.instanceOf(OcrCallError);
  return err as OcrCallError;
}

describe('a call that ends while its async token has not come yet', function () {
  // A call that never ends fails here, not after the command line's timeout.
  this.timeout(20_000);
  let server: Server;
  let target: string;
  /** The authorization of every call the server received. */
  const received: string[] = [];
  let tokens: HeldTokens;
  let client: OcrClient;

  before(async () => {
    server = new Server();
    const fake: Partial<OcrServiceServer> = {
      getServerInfo: (call, callback) => {
        received.push(String(call.metadata.get('authorization')[0]));
        callback(null, info);
      },
    };
    server.addService(OcrServiceService, fake as OcrServiceServer);
    target = `127.0.0.1:${await bindLoopback(server)}`;
  });

  beforeEach(() => {
    received.length = 0;
    tokens = new HeldTokens();
    client = new OcrClient(target, { token: tokens.source, maxAttempts: 1 });
  });

  afterEach(() => client.close());
  after(() => server.forceShutdown());

  /** Whether a call the test ended was sent once its token came: a later call, sent after it, is answered first. */
  async function sentAfterToken(): Promise<string[]> {
    tokens.give('late');
    await client.getServerInfo({ token: 'probe' });
    return [...received];
  }

  it('its caller aborts: CANCELLED at once, never sent', async () => {
    const abort = new AbortController();
    const call = client.getServerInfo({ signal: abort.signal });
    await tokens.asked;
    abort.abort();
    const err = await failure(call);
    expect(err.code).to.equal('CANCELLED');
    expect(err.details).to.equal(CALLER_CANCELLED);
    expect(await sentAfterToken()).to.deep.equal(['Bearer probe']);
  });

  it('its deadline passes: DEADLINE_EXCEEDED naming the token, never sent', async () => {
    const err = await failure(client.getServerInfo({ deadlineMs: 100 }));
    expect(err.code).to.equal('DEADLINE_EXCEEDED');
    expect(err.details).to.equal(TOKEN_LATE);
    expect(await sentAfterToken()).to.deep.equal(['Bearer probe']);
  });

  it('its token comes as its deadline passes: DEADLINE_EXCEEDED, every time', async () => {
    // grpc-js's deadline timer, started with the call, ends it first; the token's comes next; the
    // client's own last. Sent then, to a call grpc-js had ended, the call never ended (most tries).
    const ms = 100;
    const racing = new OcrClient(target, { token: () => new Promise((resolve) => setTimeout(() => resolve('late'), ms)), maxAttempts: 1 });
    try {
      for (let i = 0; i < 20; i++) {
        const err = await failure(racing.getServerInfo({ deadlineMs: ms }));
        expect(err.code, `try ${i}`).to.equal('DEADLINE_EXCEEDED');
      }
    } finally {
      racing.close();
    }
  });

  it('its client closes: CANCELLED, the client closed', async () => {
    const call = client.getServerInfo();
    await tokens.asked;
    client.close();
    const err = await failure(call);
    expect(err.code).to.equal('CANCELLED');
    expect(err.details).to.equal(CLIENT_CLOSED);
  });

  it("a tile stream's caller aborts: reading it throws CANCELLED", async () => {
    const abort = new AbortController();
    const stream = client.recognizeTiles({ signal: abort.signal });
    stream.end();
    await tokens.asked;
    abort.abort();
    const read = (async () => {
      for await (const message of stream) expect.fail(`no answer expected, got ${JSON.stringify(message)}`);
    })();
    const err = await failure(read);
    expect(err.code).to.equal('CANCELLED');
    expect(err.details).to.equal(CALLER_CANCELLED);
  });

  it('its token comes in time: sent with it', async () => {
    const call = client.getServerInfo();
    await tokens.asked;
    tokens.give('fresh');
    expect((await call).instanceId).to.equal('fake-1');
    expect(received).to.deep.equal(['Bearer fresh']);
  });
});
