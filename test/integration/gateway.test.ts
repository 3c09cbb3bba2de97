import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Metadata, Server, ServerCredentials, status as Status, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import sharp from 'sharp';
import { OcrCallError, OcrClient } from '../../src/client/index.js';
import { unreachable } from '../../src/client/errors.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { freePort, withTakenPort } from '../../src/dev/free-port.js';
import { runCli, spawnGateway, spawnServer, type GatewayProcess, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { OcrServiceService, RecognizeRequest, ServerInfo } from '../../src/gen/ocr/v1/ocr.js';
import { gatewayDeadlinePassed, NO_INSTANCE_REACHED, notServedByInstances } from '../../src/http/cluster-backend.js';
import { RETRY_AFTER, TIMEOUT_PASSED } from '../../src/http/failure.js';
import { DEFAULT_CONNECTION_LIMITS } from '../../src/server/connection-limits.js';
import { consulForTests, healthService, type TestConsul } from '../support/consul.js';
import { silentConnections } from '../support/silent-connections.js';
import { logLines } from '../support/log-lines.js';
import { metricSample } from '../../src/dev/metric-sample.js';

const image = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));

async function ocr(url: string): Promise<{ status: number; instance: string; text: string }> {
  const body = new FormData();
  body.append('image', new Blob([image]), 'line.png');
  const res = await fetch(`${url}/api/ocr`, { method: 'POST', body });
  const json = (await res.json()) as { instance_id?: string; msg: string; data?: { text: string }[] };
  return { status: res.status, instance: json.instance_id ?? '', text: json.data?.map((l) => l.text).join('') ?? json.msg };
}

/** The HTTP gateway over three instances found through Consul (a real agent when one is set, else the double). */
describe('ocr gateway over a cluster', function () {
  this.timeout(240_000);
  const service = `ocr-gateway-${process.pid}`;
  let consul: TestConsul;
  let servers: ServerProcess[] = [];
  let gateway: GatewayProcess;

  before(async () => {
    consul = await consulForTests();
    servers = await Promise.all(
      [0, 1, 2].map(() => spawnServer(['--workers', '1', '--consul', consul.address, '--service-name', service])),
    );
    await waitFor(
      async () => (await healthService(consul.address, service, 'passing')).body.length === 3,
      20_000,
      'three passing instances',
    );
    gateway = await spawnGateway(['--target', `consul://${new URL(consul.address).host}/${service}`, '--body-memory-mb', '96']);
  });
  after(async () => {
    gateway?.child.kill('SIGKILL');
    for (const s of servers) s.child.kill('SIGKILL');
    await consul?.close();
  });

  it('spreads HTTP requests over every instance', async () => {
    const seen = new Set<string>();
    await waitFor(
      async () => {
        const answers = await Promise.all(Array.from({ length: 6 }, () => ocr(gateway.url)));
        for (const a of answers) {
          expect(a.status, a.text).to.equal(200);
          expect(a.text).to.contain('各区县人民政府');
          seen.add(a.instance);
        }
        return seen.size === 3;
      },
      60_000,
      'answers from all three instances',
    );
    expect([...seen].sort()).to.deep.equal(servers.map((s) => s.instanceId).sort());
    // Every body it held for the cluster was let go with its answer, under the bound it was given.
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).to.match(/^ocr_gateway_body_bytes_held 0$/m);
    expect(metrics).to.match(/^# HELP ocr_gateway_body_bytes_held .*past 96 MiB a new request is refused 429$/m);
  });

  it('closes the connections one address opens past --max-connections-per-client, and serves everyone else', async () => {
    const extra = 20;
    const port = Number(new URL(gateway.url).port);
    const attack = await silentConnections([port], '127.0.0.2', DEFAULT_CONNECTION_LIMITS.perClient + extra);
    try {
      await waitFor(() => attack.closed() === extra, 10_000, `${extra} connections closed`);
      const answer = await ocr(gateway.url);
      expect(answer.status, answer.text).to.equal(200);
    } finally {
      attack.sockets.forEach((s) => s.destroy());
    }
  });

  it('loses no HTTP request when an instance is killed (kill -9) under load', async () => {
    const failures: string[] = [];
    let calls = 0;
    let finished = false;
    const lanes = Array.from({ length: 6 }, async () => {
      while (!finished) {
        const a = await ocr(gateway.url).catch((err: unknown) => ({ status: 0, instance: '', text: String(err) }));
        if (a.status !== 200) failures.push(`${a.status} ${a.text}`);
        calls++;
      }
    });
    try {
      await waitFor(() => calls >= 12, 60_000, 'calls under way');
      const victim = servers[0]!;
      victim.child.kill('SIGKILL');
      await once(victim.child, 'exit');
      const after = calls;
      await waitFor(() => calls >= after + 30, 120_000, '30 more calls after the kill');
    } finally {
      finished = true;
      await Promise.all(lanes);
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });

  it('answers 503 with when to retry once no instance is left, and /readyz turns 503 on SIGTERM', async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    await waitFor(async () => (await ocr(gateway.url)).status === 503, 60_000, 'a 503 once every instance is gone');
    // Alike while the instances' connections fail and once Consul's checks do: nothing of the SDK's advice to its own caller.
    const a = await ocr(gateway.url);
    expect(a.text).to.equal(NO_INSTANCE_REACHED);
    expect((await fetch(`${gateway.url}/healthz`)).status).to.equal(200);
    gateway.child.kill('SIGTERM');
    const [code] = (await once(gateway.child, 'close')) as [number | null];
    expect(code).to.equal(0);
  });
});

interface Answer {
  status: number;
  msg: string;
  data?: unknown;
}

/** POST `body` to `route` of `base`; the answer's status, message and lines. */
async function post(base: string, route: string, body: FormData | Uint8Array, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${base}${route}`, { method: 'POST', body, headers });
  const json = (await res.json()) as { msg: string; data?: unknown };
  return { status: res.status, msg: json.msg, data: json.data };
}

/**
 * An answer without what libvips adds to a decoding error: the messages of earlier failures in the
 * same process, which differ between an instance and its gateway's calls to it.
 */
const firstLines = (answer: Answer): unknown =>
  JSON.parse(JSON.stringify(answer), (key, value: unknown) =>
    (key === 'msg' || key === 'message') && typeof value === 'string' ? value.split('\n')[0] : value,
  );

const imageForm = (...images: Uint8Array[]): FormData => {
  const body = new FormData();
  for (const i of images) body.append('image', new Blob([i]), 'image.bin');
  return body;
};

/** A JPEG's first bytes and zeros: admitted by size and format, refused when decoded. */
const jpegOf = (bytes: number): Buffer => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(bytes - 4)]);

/**
 * The same requests to an instance's HTTP API and to a gateway in front of it (no tokens anywhere):
 * the same status, message and lines.
 */
describe('ocr gateway answers as its instances do', function () {
  this.timeout(240_000);
  const LIMIT = 32 * 1024 * 1024;
  let server: ServerProcess;
  let gateway: GatewayProcess;
  let instance: string;

  before(async () => {
    server = await spawnServer(['--workers', '1']);
    instance = `http://127.0.0.1:${server.httpPort!}`;
    gateway = await spawnGateway(['--target', `ipv4:127.0.0.1:${server.port}`]);
  });
  after(() => {
    gateway?.child.kill('SIGKILL');
    server?.child.kill('SIGKILL');
  });

  /** The answers of the instance and of the gateway to the same request, made by `send` against each. */
  const both = async (send: (base: string) => Promise<Answer>): Promise<[Answer, Answer]> => [
    await send(instance),
    await send(gateway.url),
  ];

  it('lets through an authorization header that instances without tokens ignore', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer x y', 'Bearer x, Bearer y']) {
      const [direct, through] = await both((base) => post(base, '/api/ocr', imageForm(image), { authorization }));
      expect(direct.status, direct.msg).to.equal(200);
      expect(through.status, `${authorization}: ${through.msg}`).to.equal(200);
    }
  });

  it("refuses an option out of range 400 with the instance's words, one the wire cannot carry too", async () => {
    for (const query of ['max_side_len=-5', 'max_side_len=9000', 'min_confidence=2', 'unclip_ratio=0']) {
      const [direct, through] = await both((base) => post(base, `/api/ocr?${query}`, imageForm(image)));
      expect(direct.status, direct.msg).to.equal(400);
      expect(through, query).to.deep.equal(direct);
      expect(direct.msg).to.match(/^options\.\w+ is [-\d.]+; it must lie in \[/);
    }
  });

  it('takes a timeout_ms too long for a timer as no deadline at all', async () => {
    for (const timeout of ['2147483000', '2147483646', '2147483648', '99999999999']) {
      const [direct, through] = await both((base) => post(base, `/api/ocr?timeout_ms=${timeout}`, imageForm(image)));
      expect(direct.status, direct.msg).to.equal(200);
      expect(through.status, `${timeout}: ${through.msg}`).to.equal(200);
    }
  });

  it('serves a gRPC call whose grpc-timeout is longer than a timer holds, as one without', async () => {
    const message = Buffer.from(RecognizeRequest.encode({ image }).finish());
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    // Just past 2^31 ms (what grpc-js sends for a deadline of 2147483646 ms), and the longest a gRPC timeout can be.
    for (const timeout of ['2147484S', '99999999H']) {
      const session = http2.connect(`http://127.0.0.1:${server.port}`);
      try {
        const stream = session.request({
          ':method': 'POST',
          ':path': '/ocr.v1.OcrService/Recognize',
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': timeout,
        });
        stream.end(Buffer.concat([prefix, message]));
        const answer = { status: '', details: '' };
        const read = (h: http2.IncomingHttpHeaders): void => {
          if (h['grpc-status'] !== undefined) answer.status = String(h['grpc-status']);
          if (h['grpc-message'] !== undefined) answer.details = decodeURIComponent(String(h['grpc-message']));
        };
        stream.on('response', read);
        stream.on('trailers', read);
        stream.resume();
        await once(stream, 'close');
        expect(answer.status, `${timeout}: ${answer.details}`).to.equal('0');
      } finally {
        session.close();
      }
    }
  });

  it('answers /api/info past its timeout_ms 504 naming it, as an instance does, not the 499 of the call it cancelled', async () => {
    // Its connection to the instance open first: the call is then sent, and cancelled, rather than ended by its deadline while it waits to connect.
    expect((await fetch(`${gateway.url}/api/info`)).status).to.equal(200);
    for (let i = 0; i < 5; i++) {
      const [direct, through] = await both(async (base) => {
        const res = await fetch(`${base}/api/info?timeout_ms=1`);
        const json = (await res.json()) as { code: number; msg: string; error: string };
        return { status: res.status, msg: json.msg, data: [json.code, json.error] };
      });
      expect(through.status, through.msg).to.equal(504);
      expect(through).to.deep.equal({
        status: 504,
        msg: 'timeout_ms passed before the answer came: allow a longer timeout_ms, or send a smaller image, or retry when the service is less busy',
        data: [4, 'DEADLINE_EXCEEDED'],
      });
      expect(direct).to.deep.equal(through);
    }
  });

  it("answers an image whose timeout_ms is too short 504 naming timeout_ms, as the instance's admission refuses it or as it passes", async () => {
    // Far shorter than the image's work: the instance refuses it at once, or the timeout passes first, by timing alone.
    for (const timeout of [1, 2, 5, 10, 20]) {
      const [direct, through] = await both((base) => post(base, `/api/ocr?timeout_ms=${timeout}`, imageForm(image)));
      expect(direct, `${timeout} ms at the instance`).to.include({ status: 504, msg: TIMEOUT_PASSED });
      expect(through, `${timeout} ms at the gateway`).to.include({ status: 504, msg: TIMEOUT_PASSED });
    }
  });

  it('answers an image whose work would not fit in its deadline 504 at once, saying so, rather than that the deadline passed', async () => {
    // A page the detector reads whole at 1600×1600: work far over the 300 ms the deadlines below allow, memory within the budget.
    const page = await sharp({ create: { width: 1600, height: 1600, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const tooShort = (deadline: string, advice: string): RegExp =>
      new RegExp(
        `^${deadline} is too short for this request: its work is estimated at about \\d+ ms, more than the \\d+ ms left of it allow with a margin, so it was refused at once rather than when it passed; ${advice}$`,
      );
    const [direct, through] = await both((base) => post(base, '/api/ocr?max_side_len=1600&timeout_ms=300', imageForm(page)));
    for (const answer of [direct, through]) {
      expect(answer.status, answer.msg).to.equal(504);
      expect(answer.msg).to.match(tooShort('timeout_ms', 'allow a longer timeout_ms, or send a smaller image'));
    }
    // Without a timeout_ms of its own, the deadline too short is the gateway's.
    const short = await spawnGateway(['--target', `ipv4:127.0.0.1:${server.port}`, '--deadline-ms', '300']);
    try {
      const answer = await post(short.url, '/api/ocr?max_side_len=1600', imageForm(page));
      expect(answer.status, answer.msg).to.equal(504);
      expect(answer.msg).to.match(
        tooShort("the gateway's deadline of 300 ms \\(its --deadline-ms\\)", 'send a longer timeout_ms, or a smaller image'),
      );
    } finally {
      short.child.kill('SIGKILL');
    }
  });

  it('gives the same confidences and boxes', async () => {
    const [direct, through] = await both((base) => post(base, '/api/ocr', imageForm(image)));
    expect(through.data).to.deep.equal(direct.data);
    // Readable: the float32 the gRPC answer carries, in its shortest decimal.
    expect(JSON.stringify(direct.data)).to.not.match(/\d\.\d{9,}/);
    const lines = (base: string): Promise<Answer> => post(base, '/api/ocr/lines', imageForm(image, image));
    const [directLines, throughLines] = await both(lines);
    expect(throughLines.data).to.deep.equal(directLines.data);
    const info = async (base: string): Promise<unknown> =>
      ((await (await fetch(`${base}/api/info`)).json()) as { data: { defaults: unknown } }).data.defaults;
    expect(await info(gateway.url)).to.deep.equal(await info(instance));
  });

  it('takes an image of exactly the size limit, and refuses one byte more alike, over HTTP and over gRPC', async () => {
    const exact = jpegOf(LIMIT);
    const raw = (bytes: Buffer) => (base: string) => post(base, '/api/ocr', bytes, { 'content-type': 'image/jpeg' });
    const [direct, through] = await both(raw(exact));
    expect(direct.status, direct.msg).to.equal(400);
    expect(firstLines(through)).to.deep.equal(firstLines(direct));
    const [directOver, throughOver] = await both(raw(jpegOf(LIMIT + 1)));
    expect(directOver.status, directOver.msg).to.equal(413);
    expect(throughOver).to.deep.equal(directOver);
    // Line images that fill the limit together: the gRPC request's tags of each image come on top.
    const quarter = jpegOf(LIMIT / 4);
    const [directLines, throughLines] = await both((base) => post(base, '/api/ocr/lines', imageForm(quarter, quarter, quarter, quarter)));
    expect(directLines.status, directLines.msg).to.equal(200);
    expect(firstLines(throughLines)).to.deep.equal(firstLines(directLines));
    const sdk = new OcrClient(`127.0.0.1:${server.port}`, { deadlineMs: 60_000 });
    try {
      const exactOverGrpc = await sdk.recognize(exact).catch((err: unknown) => err as OcrCallError);
      expect(exactOverGrpc).to.be.instanceOf(OcrCallError);
      expect((exactOverGrpc as OcrCallError).code, (exactOverGrpc as OcrCallError).details).to.equal('INVALID_ARGUMENT');
      const overGrpc = (await sdk.recognize(jpegOf(LIMIT + 1)).catch((err: unknown) => err)) as OcrCallError;
      expect(overGrpc.code).to.equal('RESOURCE_EXHAUSTED');
      expect(overGrpc.details).to.equal(directOver.msg);
    } finally {
      sdk.close();
    }
  });

  it("reports in /api/info its own limits where they are lower than the instances' (what the Web UI lets through), and refuses past them", async () => {
    const infoLimits = async (base: string): Promise<{ max_message_bytes: number; max_lines_per_request: number }> =>
      (
        (await (await fetch(`${base}/api/info`)).json()) as {
          data: { limits: { max_message_bytes: number; max_lines_per_request: number } };
        }
      ).data.limits;
    const direct = await infoLimits(instance);
    expect(await infoLimits(gateway.url)).to.deep.equal(direct);
    const narrow = await spawnGateway(['--target', `ipv4:127.0.0.1:${server.port}`, '--max-message-mb', '1', '--max-lines', '4']);
    try {
      const limits = await infoLimits(narrow.url);
      expect([limits.max_message_bytes, limits.max_lines_per_request]).to.deep.equal([1024 * 1024, 4]);
      expect(limits).to.deep.include({ ...direct, max_message_bytes: 1024 * 1024, max_lines_per_request: 4 });
      const over = await post(narrow.url, '/api/ocr', jpegOf(limits.max_message_bytes + 1), { 'content-type': 'image/jpeg' });
      expect(over.status, over.msg).to.equal(413);
    } finally {
      narrow.child.kill('SIGKILL');
    }
  });
});

/**
 * Instances and a gateway whose --max-message-mb is above the 64 MiB a message the SDK sends by
 * default: the gateway's client must send, and keep to resend elsewhere, every image it takes in.
 */
describe('ocr gateway taking images larger than the SDK sends by default', function () {
  this.timeout(240_000);
  const LIMIT_MB = 100;
  /** Over 64 MiB, under the limit: admitted by size and format, refused once decoded. */
  const large = jpegOf(70 * 1024 * 1024);
  let servers: ServerProcess[] = [];
  let gateway: GatewayProcess;

  before(async () => {
    servers = await Promise.all([0, 1].map(() => spawnServer(['--workers', '1', '--max-message-mb', String(LIMIT_MB)])));
    // pick_first: every call goes to the first instance while it is connected; pings every second find it frozen.
    gateway = await spawnGateway([
      '--target',
      `ipv4:${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`,
      '--lb',
      'pick_first',
      '--max-message-mb',
      String(LIMIT_MB),
      '--keepalive-time-ms',
      '1000',
      '--keepalive-timeout-ms',
      '1000',
    ]);
  });
  after(() => {
    gateway?.child.kill('SIGKILL');
    for (const s of servers) s.child.kill('SIGKILL');
  });

  const raw = (base: string): Promise<Answer> => post(base, '/api/ocr', large, { 'content-type': 'image/jpeg' });

  it("answers such an image as the instance does, not refused in the SDK's words", async () => {
    const direct = await raw(`http://127.0.0.1:${servers[0]!.httpPort!}`);
    expect(direct.status, direct.msg).to.equal(400);
    expect(firstLines(await raw(gateway.url))).to.deep.equal(firstLines(direct));
  });

  it('resends such an image to another instance when the one it went to stops answering', async () => {
    const direct = await raw(`http://127.0.0.1:${servers[1]!.httpPort!}`);
    servers[0]!.child.kill('SIGSTOP');
    try {
      expect(firstLines(await raw(gateway.url))).to.deep.equal(firstLines(direct));
    } finally {
      servers[0]!.child.kill('SIGCONT');
    }
  });
});

describe('ocr gateway past a deadline', function () {
  this.timeout(60_000);

  it('says which timeout passed and what to do, and nothing of the instances', async () => {
    // An instance that takes calls and never answers: the deadline passes at the gateway.
    const silent = http2.createServer();
    silent.on('stream', () => undefined);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as AddressInfo).port;
    const gateway = await spawnGateway(['--target', `ipv4:127.0.0.1:${port}`]);
    try {
      const answer = await post(gateway.url, '/api/ocr?timeout_ms=500', imageForm(image));
      expect(answer.status, answer.msg).to.equal(504);
      expect(answer.msg).to.contain('timeout_ms');
      expect(answer.msg).to.not.contain(String(port));
      expect(answer.msg).to.not.match(/remote_addr|Deadline exceeded after/);
    } finally {
      gateway.child.kill('SIGKILL');
      silent.close();
    }
  });

  it('names its own --deadline-ms for a request that set no timeout_ms', async () => {
    const silent = http2.createServer();
    silent.on('stream', () => undefined);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const gateway = await spawnGateway(['--target', `ipv4:127.0.0.1:${(silent.address() as AddressInfo).port}`, '--deadline-ms', '500']);
    try {
      const answer = await post(gateway.url, '/api/ocr', imageForm(image));
      expect(answer.status, answer.msg).to.equal(504);
      expect(answer.msg).to.equal(gatewayDeadlinePassed(500));
    } finally {
      gateway.child.kill('SIGKILL');
      silent.close();
    }
  });
});

describe('ocr gateway whose instances are all unreachable', function () {
  this.timeout(120_000);

  it('warns once that none can be reached, with the reason, and once that one is again: not a line a request', async () => {
    const port = await freePort();
    const gateway = await spawnGateway(['--target', `ipv4:127.0.0.1:${port}`]);
    let server: ServerProcess | undefined;
    const warnings = (): { msg: string; reason?: string; unreachableMs?: number }[] =>
      logLines<{ msg: string; reason?: string; unreachableMs?: number }>(gateway.stderr());
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${gateway.url}/api/info`);
        expect(res.status).to.equal(503);
        expect(Number(res.headers.get('retry-after')), 'Retry-After').to.be.within(1, 5);
        expect(((await res.json()) as { msg: string }).msg).to.equal(NO_INSTANCE_REACHED);
      }
      const reachable = (): Promise<number> => metricSample(Number(new URL(gateway.url).port), 'ocr_gateway_cluster_reachable');
      expect(await reachable()).to.equal(0);
      await waitFor(() => warnings().length > 0, 5000, 'the warning');
      expect(warnings()).to.deep.equal([
        {
          ...warnings()[0],
          msg: 'no instance of the target can be reached: requests are answered 503 until one can',
          reason: unreachable(`connect ECONNREFUSED 127.0.0.1:${port}`),
        },
      ]);
      server = await spawnServer(['--workers', '1', '--port', String(port), '--no-http']);
      await waitFor(async () => (await fetch(`${gateway.url}/api/info`)).status === 200, 60_000, 'the instance reached');
      for (let i = 0; i < 3; i++) expect((await fetch(`${gateway.url}/api/info`)).status).to.equal(200);
      expect(await reachable()).to.equal(1);
      await waitFor(() => warnings().length > 1, 5000, 'the second warning');
      expect(warnings().map((w) => w.msg)).to.deep.equal([
        'no instance of the target can be reached: requests are answered 503 until one can',
        'an instance of the target is reachable again',
      ]);
      expect(warnings()[1]!.unreachableMs).to.be.a('number');
      // Lost again once reached: the gauge says so as the warning does.
      server.child.kill('SIGKILL');
      await waitFor(async () => (await fetch(`${gateway.url}/api/info`)).status === 503, 30_000, 'the instance lost');
      expect(await reachable()).to.equal(0);
    } finally {
      server?.child.kill('SIGKILL');
      gateway.child.kill('SIGKILL');
    }
  });
});

describe('ocr gateway readiness', function () {
  this.timeout(120_000);

  it('answers /readyz 503 starting until it has reached an instance, then 200, and stays ready once they are gone', async () => {
    const port = await freePort();
    const gateway = await spawnGateway(['--target', `ipv4:127.0.0.1:${port}`]);
    let server: ServerProcess | undefined;
    const readyz = async (): Promise<[number, unknown]> => {
      const res = await fetch(`${gateway.url}/readyz`);
      return [res.status, await res.json()];
    };
    try {
      // A wrong target, or instances not up yet: kept out of a balancer, and a rollout stops here.
      expect(await readyz()).to.deep.equal([503, { status: 'starting' }]);
      expect(await readyz()).to.deep.equal([503, { status: 'starting' }]);
      server = await spawnServer(['--workers', '1', '--port', String(port), '--no-http']);
      await waitFor(async () => (await readyz())[0] === 200, 30_000, 'the gateway ready');
      expect(await readyz()).to.deep.equal([200, { status: 'ready' }]);
      // Its cluster lost later, it stays in the balancer: each request is told why and when to retry.
      server.child.kill('SIGKILL');
      await once(server.child, 'exit');
      expect((await fetch(`${gateway.url}/api/info`)).status).to.equal(503);
      expect(await readyz()).to.deep.equal([200, { status: 'ready' }]);
    } finally {
      server?.child.kill('SIGKILL');
      gateway.child.kill('SIGKILL');
    }
  });
});

describe("ocr gateway's reachability metric", function () {
  this.timeout(120_000);

  it('reads whether the cluster can be reached now when scraped, on a gateway that no request or probe has asked', async () => {
    const port = await freePort();
    const server = await spawnServer(['--workers', '1', '--port', String(port), '--no-http']);
    const gateway = await spawnGateway(['--target', `ipv4:127.0.0.1:${port}`]);
    const reachable = (): Promise<number> => metricSample(Number(new URL(gateway.url).port), 'ocr_gateway_cluster_reachable');
    try {
      // Its instance up, and nothing sent through it yet: an alert on 0 would fire on every quiet gateway.
      await waitFor(async () => (await reachable()) === 1, 30_000, 'the cluster reachable');
      // Its instance gone while no request comes: the last call's outcome, however old, would say 1.
      server.child.kill('SIGKILL');
      await once(server.child, 'exit');
      await waitFor(async () => (await reachable()) === 0, 30_000, 'the cluster unreachable');
      await waitFor(() => gateway.stderr().includes('no instance of the target can be reached'), 10_000, 'the warn line');
    } finally {
      server.child.kill('SIGKILL');
      gateway.child.kill('SIGKILL');
    }
  });
});

describe("ocr gateway's log", function () {
  this.timeout(60_000);

  it('says what it serves with when it starts, and that it stopped when it ends on SIGTERM', async () => {
    const port = await freePort();
    const gateway = await spawnGateway([
      '--target',
      `ipv4:127.0.0.1:${port}`,
      '--log-level',
      'info',
      '--body-memory-mb',
      '64',
      '--deadline-ms',
      '9000',
    ]);
    const lines = (): Record<string, unknown>[] => logLines<Record<string, unknown>>(gateway.stderr());
    try {
      await waitFor(() => lines().some((l) => l.msg === 'gateway serving'), 5000, 'the serving line');
      const serving = lines().find((l) => l.msg === 'gateway serving')!;
      expect(serving).to.deep.include({ deadlineMs: 9000, graceMs: 10_000 });
      expect(serving.limits).to.deep.include({ maxMessageBytes: 32 * 2 ** 20, maxLines: 256, bodyMemoryBytes: 64 * 2 ** 20 });
      gateway.child.kill('SIGTERM');
      const [code] = (await once(gateway.child, 'close')) as [number | null];
      expect(code).to.equal(0);
      expect(lines().map((l) => l.msg)).to.include.members(['draining', 'stopped']);
      expect(lines().find((l) => l.msg === 'draining')).to.deep.include({ signal: 'SIGTERM', inFlight: 0 });
    } finally {
      gateway.child.kill('SIGKILL');
    }
  });
});

describe('ocr gateway on an IPv6 address', function () {
  this.timeout(60_000);

  it('listens on an IPv6 --host given in brackets, as a URL writes it', async () => {
    const gateway = await spawnGateway(['--host', '[::1]', '--target', '127.0.0.1:1']);
    try {
      expect(gateway.url).to.match(/^http:\/\/\[::1\]:\d+$/);
      expect((await fetch(`${gateway.url}/healthz`)).status).to.equal(200);
    } finally {
      gateway.child.kill('SIGKILL');
    }
  });

  it('says where it listens as a URL that can be opened, the address in brackets', async () => {
    const gateway = await spawnGateway(['--host', '::1', '--target', '127.0.0.1:1']);
    try {
      expect(gateway.url).to.match(/^http:\/\/\[::1\]:\d+$/);
      const res = await fetch(`${gateway.url}/healthz`);
      expect(res.status).to.equal(200);
    } finally {
      gateway.child.kill('SIGKILL');
    }
  });
});

describe('ocr gateway that cannot listen', function () {
  this.timeout(60_000);

  it('stops its start with what to do: the port taken names --http-port, a host that does not resolve --host', async () => {
    await withTakenPort(async (busy) => {
      const r = await runCli(['gateway', '--host', '127.0.0.1', '--http-port', String(busy), '--target', '127.0.0.1:1']);
      expect(r.code).to.equal(1);
      expect(r.stdout, 'no listening line').to.equal('');
      expect(r.stderr).to.contain(
        `ocr: cannot serve HTTP on 127.0.0.1:${busy}: the port is in use; choose another port with --http-port\n`,
      );
    });
    const r = await runCli(['gateway', '--host', 'gateway.invalid', '--http-port', '0', '--target', '127.0.0.1:1']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('ocr: cannot serve HTTP on gateway.invalid:0: the name gateway.invalid does not resolve; check --host\n');
  });
});

/** A gRPC server on loopback serving `services`: an instance as the gateway sees it. */
async function grpcInstance(services: (server: Server) => void): Promise<{ target: string; close: () => void }> {
  const server = new Server();
  services(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return { target: `ipv4:127.0.0.1:${port}`, close: () => server.forceShutdown() };
}

describe('ocr gateway in HTTP terms', function () {
  this.timeout(60_000);

  it('words an instance\'s refusal for load and its own for HTTP callers: timeout_ms and Retry-After, no deadline, nothing "not sent"', async () => {
    // An instance that refuses every call as admission does, with hints no retry within 2 s fits.
    const refuse = (_call: unknown, callback: (err: Partial<ServiceError>) => void): void => {
      const metadata = new Metadata();
      metadata.set('grpc-retry-pushback-ms', '20000');
      metadata.set('ocr-new-call-pushback-ms', '20000');
      callback({
        code: Status.RESOURCE_EXHAUSTED,
        details:
          "server busy: about 30000 ms of interactive work ahead and about 30 ms for this call would not fit in its deadline's 1990 ms; " +
          'no retry within its deadline would: send it again in 20000 ms with as long a deadline, or on another instance',
        metadata,
      });
    };
    // Two of them: the SDK sends a refused call to the other at once, and gives the second's refusal
    // when its hint outlasts the timeout; the next request it refuses itself, sending nothing.
    const refusing = (server: Server): void =>
      server.addService(OcrServiceService, {
        recognize: refuse,
        recognizeLines: refuse,
        // Answered, so that the gateway's probe of its cluster is no refusal the SDK counts.
        getServerInfo: (_call: unknown, callback: (err: null, info: ServerInfo) => void) => callback(null, ServerInfo.fromPartial({})),
        recognizeTiles: () => undefined,
      });
    const instances = [await grpcInstance(refusing), await grpcInstance(refusing)];
    const gateway = await spawnGateway(['--target', `ipv4:${instances.map((i) => i.target.slice('ipv4:'.length)).join(',')}`]);
    try {
      for (const [which, begins] of [
        ["the instance's", 'server busy: '],
        ["the gateway's SDK's", 'every instance refused interactive calls for load: '],
      ] as const) {
        const res = await fetch(`${gateway.url}/api/ocr?timeout_ms=2000`, { method: 'POST', body: imageForm(image) });
        const { msg } = (await res.json()) as { msg: string };
        expect(res.status, `${which}: ${msg}`).to.equal(429);
        expect(res.headers.get('retry-after'), which).to.match(/^\d+$/);
        expect(msg, which).to.contain(RETRY_AFTER);
        expect(msg.startsWith(begins), `${which}: ${msg}`).to.equal(true);
        expect(msg, which).to.not.match(/deadline|not sent|retry in \d+ ms/);
      }
    } finally {
      gateway.child.kill('SIGKILL');
      for (const i of instances) i.close();
    }
  });

  it("answers any status its instances answer with that status's number and name", async () => {
    const failing = (code: Status) => (_call: unknown, callback: (err: Partial<ServiceError>) => void) =>
      callback({ code, details: `failed with ${Status[code]}` });
    const instance = await grpcInstance((server) =>
      server.addService(OcrServiceService, {
        recognize: failing(Status.ABORTED),
        recognizeLines: failing(Status.DATA_LOSS),
        getServerInfo: failing(Status.OUT_OF_RANGE),
        recognizeTiles: () => undefined,
      }),
    );
    const gateway = await spawnGateway(['--target', instance.target]);
    try {
      const answers = [
        await fetch(`${gateway.url}/api/ocr`, { method: 'POST', body: imageForm(image) }),
        await fetch(`${gateway.url}/api/ocr/lines`, { method: 'POST', body: imageForm(image) }),
        await fetch(`${gateway.url}/api/info`),
      ];
      const bodies = await Promise.all(answers.map(async (res) => (await res.json()) as { code: number; error: string; msg: string }));
      expect(bodies.map(({ code, error, msg }) => [code, error, msg])).to.deep.equal([
        [10, 'ABORTED', 'failed with ABORTED'],
        [15, 'DATA_LOSS', 'failed with DATA_LOSS'],
        [11, 'OUT_OF_RANGE', 'failed with OUT_OF_RANGE'],
      ]);
    } finally {
      gateway.child.kill('SIGKILL');
      instance.close();
    }
  });

  it('answers a request its instances do not serve (older than the gateway) 501 naming the request, not a gRPC method', async () => {
    const instance = await grpcInstance(() => undefined);
    const gateway = await spawnGateway(['--target', instance.target]);
    try {
      const answer = await post(gateway.url, '/api/ocr/lines', imageForm(image));
      expect(answer.status, answer.msg).to.equal(501);
      expect(answer.msg).to.equal(notServedByInstances('POST /api/ocr/lines'));
      const info = await fetch(`${gateway.url}/api/info`);
      expect(info.status).to.equal(501);
      expect(((await info.json()) as { msg: string }).msg).to.equal(notServedByInstances('GET /api/info'));
    } finally {
      gateway.child.kill('SIGKILL');
      instance.close();
    }
  });
});
