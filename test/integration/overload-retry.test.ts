/**
 * The client against an overloaded instance and one with room (in-process fakes of OcrService):
 * refusals with a retry pushback are retried on the other instance after the hint, a pushback of
 * -1 is not retried, and the call's priority travels as metadata on every attempt.
 */
import {
  InterceptingCall,
  Metadata,
  Server,
  status as Status,
  type Interceptor,
  type sendUnaryData,
  type ServerErrorResponse,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { expect } from 'chai';
import {
  type OcrCallError,
  OcrClient,
  mapLimit,
  type LoadBalancing,
  type OcrClientOptions,
  type ServerInfo,
} from '../../src/client/index.js';
import { OcrServiceService, type OcrServiceServer, type RecognizeResponse } from '../../src/gen/ocr/v1/ocr.js';
import { bindLoopback } from '../../src/dev/free-port.js';

const info = (id: string): ServerInfo => ({
  instanceId: id,
  serverVersion: '',
  manifest: '',
  models: [],
  dictionarySize: 0,
  workers: 1,
  threadsPerWorker: 1,
});

/** One fake instance: it refuses every call (or every batch call) for overload with `pushbackMs`, or answers them all. */
class FakeInstance {
  /** When each call arrived (Date.now()) and the ocr-priority it carried. */
  readonly calls: { at: number; priority: string | undefined }[] = [];
  pushbackMs = 50;
  /** ocr-new-call-pushback-ms with each refusal, when set. */
  newCallPushbackMs: number | undefined;
  port = 0;
  private readonly server = new Server();

  constructor(
    readonly id: string,
    public refuses: boolean | 'batch',
  ) {
    const unimplemented = (): never => {
      throw new Error('not used by this test');
    };
    const service: OcrServiceServer = {
      recognize: (call, callback) =>
        this.answer(call, callback, { lines: [], width: 1, height: 1, instanceId: id, rotation: 0, cached: false }),
      recognizeLines: (call, callback) => this.answer(call, callback, { results: [], instanceId: id }),
      getServerInfo: (call, callback) => this.answer(call, callback, info(id)),
      recognizeTiles: unimplemented,
    };
    this.server.addService(OcrServiceService, service);
  }

  async start(): Promise<void> {
    this.port = await bindLoopback(this.server);
  }

  stop(): void {
    this.server.forceShutdown();
  }

  private answer<Req, Res>(call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>, response: Res): void {
    const [priority] = call.metadata.get('ocr-priority');
    this.calls.push({ at: Date.now(), priority: priority === undefined ? undefined : String(priority) });
    if (!this.refuses || (this.refuses === 'batch' && priority !== 'batch')) return callback(null, response);
    const trailers = new Metadata();
    trailers.set('grpc-retry-pushback-ms', String(this.pushbackMs));
    if (this.newCallPushbackMs !== undefined) trailers.set('ocr-new-call-pushback-ms', String(this.newCallPushbackMs));
    const refusal: ServerErrorResponse = Object.assign(new Error('overloaded'), {
      code: Status.RESOURCE_EXHAUSTED,
      details: 'overloaded',
      metadata: trailers,
    });
    callback(refusal);
  }
}

describe('retry of calls refused for overload', function () {
  this.timeout(30_000);
  let busy: FakeInstance;
  let free: FakeInstance;
  let client: OcrClient | undefined;
  beforeEach(async () => {
    [busy, free] = [new FakeInstance('busy', true), new FakeInstance('free', false)];
    await Promise.all([busy.start(), free.start()]);
  });
  afterEach(() => {
    client?.close();
    client = undefined;
    [busy, free].forEach((i) => i.stop());
  });

  const both = (): string => `ipv4:127.0.0.1:${busy.port},127.0.0.1:${free.port}`;

  /** A least_request client connected to both instances, so that calls in parallel spread over both; then busy refuses. */
  async function connectedToBoth(options: OcrClientOptions = {}): Promise<OcrClient> {
    const connected = new OcrClient(both(), { ...options, loadBalancing: 'least_request' });
    busy.refuses = false;
    for (let i = 0; i < 10 && (busy.calls.length === 0 || free.calls.length === 0); i++) await connected.getServerInfo();
    busy.refuses = true;
    busy.calls.length = 0;
    return connected;
  }

  for (const loadBalancing of ['round_robin', 'least_request'] as LoadBalancing[]) {
    it(`${loadBalancing}: every call is answered by the instance with room`, async () => {
      client = new OcrClient(both(), { loadBalancing });
      const answered: string[] = [];
      for (let i = 0; i < 10; i++) answered.push((await client.recognize(Buffer.from('x'))).instanceId);
      answered.push((await client.recognizeLines([Buffer.from('x')])).instanceId, (await client.getServerInfo()).instanceId);
      expect(
        answered.every((id) => id === 'free'),
        answered.join(' '),
      ).to.equal(true);
      // The busy instance did take calls: they were refused and retried, not balanced away.
      expect(busy.calls.length).to.be.greaterThan(0);
    });
  }

  it('least_request: passes over an instance for its hint after a refusal, calls in parallel included', async () => {
    client = await connectedToBoth();
    busy.pushbackMs = 2000;
    const answers = await mapLimit([...Array(40).keys()], 8, async () => (await client!.recognize(Buffer.from('x'))).instanceId);
    expect(answers.filter((id) => id !== 'free')).to.deep.equal([]);
    // At most the first eight in parallel reached it: a refusal ends at once, and by open calls
    // alone the busy instance would then look the least loaded and take about half of the rest.
    expect(busy.calls.length).to.be.within(1, 8);
  });

  it('least_request: passes over a refusing instance until a new call would fit there, not a retry', async () => {
    client = await connectedToBoth();
    // A retry of the refused call would fit in a minute, a new call at once.
    busy.pushbackMs = 60_000;
    busy.newCallPushbackMs = 0;
    while (busy.calls.length === 0) await client.recognize(Buffer.from('x'));
    busy.refuses = false;
    busy.calls.length = 0;
    // Sequential calls, each where the balancer sends it: the busy instance takes calls again once
    // the new call's hint and the margin have passed, within well under the minute.
    const started = Date.now();
    while (busy.calls.length === 0 && Date.now() - started < 5000) await client.recognize(Buffer.from('x'));
    expect(busy.calls.length, 'calls sent to the instance within 5 s of its refusal').to.be.above(0);
  });

  /** A closed loop of `priority` calls for `ms`, as a queue consumer that ignores hints: how each ended, and how long it took. */
  async function loop(
    c: OcrClient,
    priority: 'batch' | 'interactive',
    ms: number,
  ): Promise<{ code: string; local: boolean; ms: number }[]> {
    const ends: { code: string; local: boolean; ms: number }[] = [];
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const started = Date.now();
      const end = await c.recognize(Buffer.from('x'), undefined, { priority, deadlineMs: 1000 }).then(
        () => ({ code: 'OK', local: false }),
        (e: OcrCallError) => ({ code: e.code, local: e.metadata.get('ocr-refused-by-client').length > 0 }),
      );
      ends.push({ ...end, ms: Date.now() - started });
    }
    return ends;
  }

  /** A client connected to both instances, both now refusing, that counts the grpc-js calls it starts from here on. */
  async function countingWhileBothRefuse(): Promise<{ counted: OcrClient; grpcCalls: { started: number } }> {
    const grpcCalls = { started: 0 };
    const counting: Interceptor = (options, next) => {
      grpcCalls.started++;
      return new InterceptingCall(next(options));
    };
    const counted = (client = await connectedToBoth({ channelOptions: { interceptors: [counting] } }));
    free.refuses = true;
    free.calls.length = 0;
    grpcCalls.started = 0;
    return { counted, grpcCalls };
  }

  it('least_request: refuses a priority that every instance refuses without sending it, paced, until the first expects room', async () => {
    const { counted, grpcCalls } = await countingWhileBothRefuse();
    // Refusals for load: each says when a new call would fit.
    [busy.pushbackMs, free.pushbackMs] = [2000, 3000];
    [busy.newCallPushbackMs, free.newCallPushbackMs] = [2000, 3000];
    const ends = await loop(counted, 'batch', 600);
    // The first call learnt that both refuse; the rest never left the client. Sent, a caller looping
    // on refusals made some 20 calls a second on each instance (their hold is the server's pace).
    expect(busy.calls.length + free.calls.length, 'calls the instances received').to.equal(2);
    // And only the next one became a grpc-js call (refused by the balancer): the client then knew,
    // and refused the others before encoding their images.
    expect(grpcCalls.started, 'grpc-js calls').to.equal(3);
    expect(ends[0]).to.include({ code: 'RESOURCE_EXHAUSTED', local: false });
    const later = ends.slice(1);
    expect(later.length).to.be.within(5, 13);
    expect(later.every((e) => e.code === 'RESOURCE_EXHAUSTED' && e.local)).to.equal(true);
    // Each held as the server would hold it, so that the loop does not spin on this host's cores.
    expect(Math.min(...later.map((e) => e.ms))).to.be.at.least(45);
    const err = await counted.recognize(Buffer.from('x'), undefined, { priority: 'batch', deadlineMs: 1000 }).catch((e: OcrCallError) => e);
    const hint = Number((err as OcrCallError).metadata.get('ocr-new-call-pushback-ms')[0]);
    expect(hint, 'the first instance expects room in').to.be.within(1000, 2050);
    expect((err as OcrCallError).details).to.match(/every instance refused batch calls for load; the first expects room in \d+ ms/);
  });

  it('least_request: asks the balancer again within a second, however often its refusals are repeated meanwhile', async () => {
    const { counted, grpcCalls } = await countingWhileBothRefuse();
    busy.pushbackMs = free.pushbackMs = busy.newCallPushbackMs = free.newCallPushbackMs = 5000;
    await loop(counted, 'batch', 1400);
    // Two attempts learnt that both refuse, the balancer refused the next call, and about a second
    // later another: an instance that joined meanwhile would have been tried. Still none sent.
    expect(busy.calls.length + free.calls.length, 'calls the instances received').to.equal(2);
    expect(grpcCalls.started, 'grpc-js calls').to.equal(4);
  });

  it('least_request: a call the client refuses itself ends CANCELLED when its caller aborts or its client closes, as a sent one does', async () => {
    const { counted } = await countingWhileBothRefuse();
    busy.pushbackMs = free.pushbackMs = busy.newCallPushbackMs = free.newCallPushbackMs = 2000;
    const batch = (settings: { signal?: AbortSignal } = {}): Promise<OcrCallError> =>
      counted.recognize(Buffer.from('x'), undefined, { priority: 'batch', deadlineMs: 1000, ...settings }).then(
        () => expect.fail('expected a refusal'),
        (e: OcrCallError) => e,
      );
    expect((await batch()).metadata.get('ocr-refused-by-client'), 'the first call learnt that both refuse').to.have.length(0);
    expect((await batch()).metadata.get('ocr-refused-by-client'), 'refused by the client').to.have.length(1);
    const before = await batch({ signal: AbortSignal.abort() });
    expect(before.code, 'signal aborted before the call').to.equal('CANCELLED');
    const controller = new AbortController();
    const held = batch({ signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    expect((await held).code, 'signal aborted while the refusal was held').to.equal('CANCELLED');
    const closing = batch();
    counted.close();
    const closed = await closing;
    expect(closed.code, 'client closed while the refusal was held').to.equal('CANCELLED');
    expect(closed.details).to.match(/OcrClient is closed/);
    expect((await batch()).details, 'a call after close()').to.match(/OcrClient is closed/);
  });

  it('least_request: an instance that refuses batch calls still takes interactive ones', async () => {
    client = await connectedToBoth();
    [busy.refuses, free.refuses] = ['batch', 'batch'];
    free.calls.length = 0;
    busy.pushbackMs = free.pushbackMs = 2000;
    busy.newCallPushbackMs = free.newCallPushbackMs = 2000;
    const batch = await loop(client, 'batch', 300);
    expect(batch.every((e) => e.code === 'RESOURCE_EXHAUSTED')).to.equal(true);
    const interactive = await loop(client, 'interactive', 300);
    expect(interactive.length).to.be.above(1);
    expect(interactive.every((e) => e.code === 'OK')).to.equal(true);
  });

  it('least_request: sends a call that names no priority (GetServerInfo) while every instance refuses recognition', async () => {
    client = await connectedToBoth();
    free.refuses = true;
    busy.pushbackMs = free.pushbackMs = 2000;
    busy.newCallPushbackMs = free.newCallPushbackMs = 2000;
    await client.recognize(Buffer.from('x'), undefined, { deadlineMs: 1000 }).catch(() => undefined);
    [busy.refuses, free.refuses] = [false, false];
    const refused = await client.recognize(Buffer.from('x'), undefined, { deadlineMs: 1000 }).catch((e: OcrCallError) => e);
    expect((refused as OcrCallError).metadata.get('ocr-refused-by-client')).to.have.length(1);
    // Servers never refuse it for load: the client must not either.
    expect(['busy', 'free']).to.include((await client.getServerInfo()).instanceId);
  });

  it("least_request: a refusal that says nothing of room for others' calls (a quota's) never stops calls being sent", async () => {
    client = await connectedToBoth();
    free.refuses = true;
    free.calls.length = 0;
    // As a caller's quota answers: a retry hint, no ocr-new-call-pushback-ms.
    busy.pushbackMs = free.pushbackMs = 2000;
    const ends = await loop(client, 'interactive', 300);
    expect(ends.every((e) => e.code === 'RESOURCE_EXHAUSTED' && !e.local)).to.equal(true);
    // Every call was sent: through a gateway, the next call may be another caller's, within its quota.
    expect(busy.calls.length + free.calls.length).to.equal(2 * ends.length);
  });

  it('least_request: a call refused by the only instance waits out its hint before it is sent again', async () => {
    client = new OcrClient(`127.0.0.1:${busy.port}`, { loadBalancing: 'least_request' });
    busy.pushbackMs = busy.newCallPushbackMs = 300;
    const answered = client.recognize(Buffer.from('x'));
    // The first attempt's refusal closes the instance for 300 ms: the retry at once is refused by
    // the client, and the call is sent again once the hint has passed, not at once.
    while (busy.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
    busy.refuses = false;
    expect((await answered).instanceId).to.equal('busy');
    expect(busy.calls).to.have.length(2);
    expect(busy.calls[1]!.at - busy.calls[0]!.at).to.be.at.least(295);
  });

  it('retries at once, then after the hint, when the refusing instance is the only one, then gives up', async () => {
    client = new OcrClient(`127.0.0.1:${busy.port}`, { maxAttempts: 3 });
    const err = await client.recognize(Buffer.from('x')).catch((e: unknown) => e);
    expect((err as OcrCallError).code).to.equal('RESOURCE_EXHAUSTED');
    expect(busy.calls).to.have.length(3);
    const gaps = busy.calls.slice(1).map((c, i) => c.at - busy.calls[i]!.at);
    expect(gaps[1], `gaps between attempts: ${gaps.join(', ')} ms`).to.be.at.least(45);
  });

  it('answers a refusal at once when the hint would outlast the deadline, instead of waiting into DEADLINE_EXCEEDED', async () => {
    busy.pushbackMs = 5000;
    client = new OcrClient(`127.0.0.1:${busy.port}`, { maxAttempts: 3 });
    const started = Date.now();
    const err = await client.recognize(Buffer.from('x'), undefined, { deadlineMs: 1000 }).catch((e: unknown) => e);
    expect((err as OcrCallError).code).to.equal('RESOURCE_EXHAUSTED');
    expect(Date.now() - started).to.be.below(500);
    expect(busy.calls).to.have.length(2);
  });

  it('does not retry a refusal whose pushback is -1', async () => {
    busy.pushbackMs = -1;
    client = new OcrClient(both(), { loadBalancing: 'round_robin', maxAttempts: 5 });
    const ends: string[] = [];
    for (let i = 0; i < 6; i++) {
      ends.push(
        await client.recognize(Buffer.from('x')).then(
          (r: RecognizeResponse) => r.instanceId,
          (e: unknown) => (e as OcrCallError).code,
        ),
      );
    }
    // Each refusal reached the caller as it was: one attempt per refused call, none moved to the free instance.
    expect(ends.filter((e) => e === 'RESOURCE_EXHAUSTED')).to.have.length(busy.calls.length);
    expect(busy.calls.length).to.be.greaterThan(0);
    expect(ends.length).to.equal(busy.calls.length + free.calls.length);
  });

  it('sends the priority as ocr-priority metadata, on every attempt', async () => {
    client = new OcrClient(both(), { loadBalancing: 'round_robin' });
    for (let i = 0; i < 4; i++) await client.recognize(Buffer.from('x'), undefined, { priority: 'batch' });
    await client.getServerInfo({ priority: 'interactive' });
    await client.recognizeLines([Buffer.from('x')]);
    // Each call ended at the free instance, some after a refused attempt at the busy one. The calls
    // that servers refuse for load name their priority, interactive by default.
    expect(free.calls.map((c) => c.priority)).to.deep.equal(['batch', 'batch', 'batch', 'batch', 'interactive', 'interactive']);
    expect(busy.calls.filter((c) => c.priority === 'batch').length).to.be.greaterThan(0);
  });

  it('refuses an unknown priority before sending anything', async () => {
    client = new OcrClient(both());
    const err = await client.getServerInfo({ priority: 'urgent' as 'batch' }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RangeError);
    expect(busy.calls.length + free.calls.length).to.equal(0);
  });
});
