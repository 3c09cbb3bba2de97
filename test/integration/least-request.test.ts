import { EventEmitter, once } from 'node:events';
import { Server, type sendUnaryData } from '@grpc/grpc-js';
import { expect } from 'chai';
import { OcrClient, type LoadBalancing, type ServerInfo } from '../../src/client/index.js';
import { OcrServiceService } from '../../src/gen/ocr/v1/ocr.js';
import { bindLoopback } from '../../src/dev/free-port.js';

/**
 * A stand-in instance that holds every GetServerInfo call until the test releases it, so the test
 * decides how many calls each instance has open: the only thing least_request looks at.
 */
class HoldingInstance {
  readonly held: sendUnaryData<ServerInfo>[] = [];
  private readonly server = new Server();
  port = 0;

  /** `arrivals` hears 'arrived' with this instance's id when it takes a call. */
  constructor(
    readonly id: string,
    arrivals: EventEmitter,
  ) {
    const unimplemented = (): never => {
      throw new Error('not used by this test');
    };
    this.server.addService(OcrServiceService, {
      recognize: unimplemented,
      recognizeLines: unimplemented,
      recognizeTiles: unimplemented,
      getServerInfo: (_call: unknown, callback: sendUnaryData<ServerInfo>) => {
        this.held.push(callback);
        arrivals.emit('arrived', id);
      },
    });
  }

  async start(): Promise<void> {
    this.port = await bindLoopback(this.server);
  }

  /** Answer every held call. */
  release(): void {
    for (const callback of this.held.splice(0)) {
      callback(null, {
        instanceId: this.id,
        serverVersion: '',
        manifest: '',
        models: [],
        dictionarySize: 0,
        workers: 1,
        threadsPerWorker: 1,
      });
    }
  }

  stop(): void {
    this.release();
    this.server.forceShutdown();
  }
}

describe('least_request balancing', function () {
  this.timeout(30_000);
  const arrivals = new EventEmitter();
  let a: HoldingInstance;
  let b: HoldingInstance;
  beforeEach(async () => {
    [a, b] = [new HoldingInstance('a', arrivals), new HoldingInstance('b', arrivals)];
    await Promise.all([a.start(), b.start()]);
  });
  afterEach(() => [a, b].forEach((i) => i.stop()));

  /** Start one call and wait until an instance holds it; resolves with that instance's id. */
  async function startCall(client: OcrClient, answers: Promise<ServerInfo>[]): Promise<string> {
    const arrived = once(arrivals, 'arrived');
    answers.push(client.getServerInfo());
    const [id] = (await arrived) as [string];
    return id;
  }

  /**
   * One call at a time, each answered at once, until both instances have taken one: both connected.
   * Without `loadBalancing`, the client's default.
   */
  async function connected(loadBalancing?: LoadBalancing): Promise<OcrClient> {
    const client = new OcrClient(`ipv4:127.0.0.1:${a.port},127.0.0.1:${b.port}`, loadBalancing ? { loadBalancing } : {});
    const seen = new Set<string>();
    for (let i = 0; i < 50 && seen.size < 2; i++) {
      const answers: Promise<ServerInfo>[] = [];
      seen.add(await startCall(client, answers));
      a.release();
      b.release();
      await answers[0];
    }
    expect([...seen].sort()).to.deep.equal(['a', 'b']);
    return client;
  }

  /** Six calls held on both instances, then those on `a` answered; where the next `n` calls go. */
  async function afterUnevenEnds(loadBalancing: LoadBalancing | undefined, n: number): Promise<string[]> {
    const client = await connected(loadBalancing);
    const answers: Promise<ServerInfo>[] = [];
    const first: string[] = [];
    for (let i = 0; i < 6; i++) first.push(await startCall(client, answers));
    expect(first.filter((id) => id === 'a')).to.have.length(3, `first six calls: ${first.join(' ')}`);
    const onA = answers.splice(0).filter((_, i) => first[i] === 'a');
    a.release();
    await Promise.all(onA);
    const next: string[] = [];
    for (let i = 0; i < n; i++) next.push(await startCall(client, answers));
    a.release();
    b.release();
    client.close();
    return next;
  }

  it('sends each call to the instance with the fewest open calls', async () => {
    // b still holds 3 calls, a none: a takes the next 3 before b gets another.
    expect(await afterUnevenEnds('least_request', 3)).to.deep.equal(['a', 'a', 'a']);
  });

  it("is the client's default", async () => {
    expect(await afterUnevenEnds(undefined, 3)).to.deep.equal(['a', 'a', 'a']);
  });

  it('round_robin, for contrast, takes turns whatever each instance holds', async () => {
    expect(await afterUnevenEnds('round_robin', 4)).to.include('b');
  });

  it("spreads a new client's first calls, made before it has connected, over every instance", async () => {
    const client = new OcrClient(`ipv4:127.0.0.1:${a.port},127.0.0.1:${b.port}`, { loadBalancing: 'least_request' });
    const ids: string[] = [];
    const eight = new Promise<void>((resolve) => {
      const count = (id: string): void => {
        ids.push(id);
        if (ids.length < 8) return;
        arrivals.off('arrived', count);
        resolve();
      };
      arrivals.on('arrived', count);
    });
    const answers = Array.from({ length: 8 }, () => client.getServerInfo());
    await eight;
    a.release();
    b.release();
    await Promise.all(answers);
    client.close();
    // Before the first picker waited for every instance, all eight went to the one that connected first.
    expect(
      ids.filter((id) => id === 'a'),
      ids.join(' '),
    ).to.have.length(4);
  });

  it('spreads calls in turn when the instances are equally loaded', async () => {
    const client = await connected('least_request');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const answers: Promise<ServerInfo>[] = [];
      ids.push(await startCall(client, answers));
      a.release();
      b.release();
      await answers[0];
    }
    client.close();
    expect(ids.filter((id) => id === 'a')).to.have.length(5, ids.join(' '));
  });
});
