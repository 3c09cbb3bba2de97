import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import http2 from 'node:http2';
import { connect } from 'node:net';
import { RecognizeRequest } from '../../src/gen/ocr/v1/ocr.js';
import { OCR_SERVICE } from '../../src/shared/service-name.js';
import { spawnGateway, spawnServer, type GatewayProcess, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { logLines } from '../support/log-lines.js';
import { textImage } from '../support/images.js';
import { OcrClient } from '../../src/client/index.js';
import { metricSample } from '../../src/dev/metric-sample.js';

interface CallLine {
  msg: string;
  requestId?: string;
  method?: string;
  route?: string;
  status?: number;
  code?: string;
  ms?: number;
  peer?: string;
}

/** The line of `process`'s log that `msg` says for the call `requestId`, once it is out. */
async function lineOf(process: { stderr(): string }, requestId: string, msg: string): Promise<CallLine> {
  const find = (): CallLine | undefined => logLines<CallLine>(process.stderr()).find((l) => l.requestId === requestId && l.msg === msg);
  await waitFor(() => find() !== undefined, 10_000, `the '${msg}' line of ${requestId}`);
  return find()!;
}

const PEER = /^127\.0\.0\.1:\d+$/;

/** The headers a Recognize with an empty message, sent on `session` with `headers`, is answered with: a call refused from its headers ends in them. */
async function recognizeAnswer(
  session: http2.ClientHttp2Session,
  requestId: string,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<http2.IncomingHttpHeaders> {
  const stream = session.request({
    ':method': 'POST',
    ':path': `/${OCR_SERVICE}/Recognize`,
    'content-type': 'application/grpc',
    te: 'trailers',
    'x-request-id': requestId,
    ...headers,
  });
  stream.on('error', () => undefined);
  stream.end(Buffer.alloc(5));
  const [answer] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  return answer;
}

/**
 * What an operator follows a call by, at --log-level debug: one line for each outcome, with its
 * request id, what was called, its status, its time and its caller, on an instance and on a
 * gateway in front of it alike; and a gRPC caller reads the id its lines go by.
 */
describe('each call has its log line, under a request id its caller can read', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let gateway: GatewayProcess;
  let image: Buffer;

  before(async () => {
    image = await textImage('Follow this call');
    server = await spawnServer(['--workers', '1', '--log-level', 'debug']);
    gateway = await spawnGateway(['--target', `ipv4:127.0.0.1:${server.port}`, '--log-level', 'debug']);
  });
  after(() => {
    gateway?.child.kill('SIGKILL');
    server?.child.kill('SIGKILL');
  });

  it('logs an HTTP request answered OK, on the gateway and on the instance behind it, under the id the caller sent', async () => {
    const form = new FormData();
    form.append('image', new Blob([image]), 'page.png');
    const res = await fetch(`${gateway.url}/api/ocr`, { method: 'POST', body: form, headers: { 'x-request-id': 'follow-me-1' } });
    expect(res.status).to.equal(200);
    expect(res.headers.get('x-request-id')).to.equal('follow-me-1');
    const atGateway = await lineOf(gateway, 'follow-me-1', 'answered');
    expect(atGateway).to.include({ route: '/api/ocr', status: 200 });
    expect(atGateway.ms).to.be.a('number');
    expect(atGateway.peer).to.match(PEER);
    const atInstance = await lineOf(server, 'follow-me-1', 'answered');
    expect(atInstance).to.include({ method: 'Recognize' });
    expect(atInstance.peer).to.match(PEER);
  });

  it('names a request by the same id on the gateway and the instance when the one it sent is not printable ASCII', async () => {
    const form = new FormData();
    form.append('image', new Blob([image]), 'page.png');
    // A Latin-1 byte in the header, as HTTP allows: gRPC metadata cannot carry it.
    const res = await fetch(`${gateway.url}/api/ocr`, { method: 'POST', body: form, headers: { 'x-request-id': 'r\u00e9q-7' } });
    expect(res.status).to.equal(200);
    const id = res.headers.get('x-request-id')!;
    expect((await lineOf(gateway, id, 'answered')).status).to.equal(200);
    expect((await lineOf(server, id, 'answered')).method).to.equal('Recognize');
  });

  it("logs an HTTP request answered OK by an instance's own port, and names the caller and the time of one refused", async () => {
    const ok = await fetch(`http://127.0.0.1:${server.httpPort!}/api/ocr`, {
      method: 'POST',
      body: new Uint8Array(image),
      headers: { 'content-type': 'image/png', 'x-request-id': 'direct-ok' },
    });
    expect(ok.status).to.equal(200);
    expect(await lineOf(server, 'direct-ok', 'answered')).to.include({ route: '/api/ocr', status: 200 });
    const bad = await fetch(`http://127.0.0.1:${server.httpPort!}/api/ocr`, {
      method: 'POST',
      body: 'not an image',
      headers: { 'content-type': 'image/png', 'x-request-id': 'direct-bad' },
    });
    expect(bad.status).to.equal(415);
    const refused = await lineOf(server, 'direct-bad', 'refused');
    expect(refused.peer).to.match(PEER);
    expect(refused.ms).to.be.a('number');
  });

  it('names the caller of a request refused before it reached a route: a malformed request, a malformed path', async () => {
    const refused = (): CallLine[] => logLines<CallLine>(server.stderr()).filter((l) => l.msg === 'refused' && l.status === 400);
    const socket = connect(server.httpPort!, '127.0.0.1');
    socket.end('GARBAGE\r\n\r\n');
    socket.resume();
    await once(socket, 'close');
    expect((await fetch(`http://127.0.0.1:${server.httpPort!}/%zz`)).status).to.equal(400);
    await waitFor(() => refused().length === 2, 10_000, 'both refusals');
    for (const line of refused()) expect(line.peer, JSON.stringify(line)).to.match(PEER);
  });

  it('logs a client that closes its connection halfway through its upload as gone (499), once, not as a malformed request', async () => {
    const counted = (status: number): Promise<number> =>
      metricSample(server.httpPort!, `ocr_http_requests_total{route="/api/ocr",status="${status}"}`, 0);
    const malformedBefore = await counted(400);
    const goneBefore = await counted(499);
    // 100 kB declared, 1 kB sent, then the client's side closed: a dropped upload, as a cancelled curl makes.
    const socket = connect(server.httpPort!, '127.0.0.1');
    await once(socket, 'connect');
    socket.resume();
    socket.write(
      'POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nx-request-id: left-mid-upload\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n',
    );
    socket.end(Buffer.alloc(1000));
    await once(socket, 'close');
    const line = await lineOf(server, 'left-mid-upload', 'ended after the caller left');
    expect(line).to.include({ route: '/api/ocr', status: 499 });
    expect(line.ms).to.be.a('number');
    expect(line.peer).to.match(PEER);
    await waitFor(async () => (await counted(499)) === goneBefore + 1, 10_000, 'the request counted as 499');
    // Its one line: no refusal under its id, nor one of a malformed request from its connection.
    const lines = logLines<CallLine & { message?: string }>(server.stderr());
    expect(lines.filter((l) => l.requestId === 'left-mid-upload').map((l) => l.msg)).to.deep.equal(['ended after the caller left']);
    expect(lines.filter((l) => l.peer === line.peer && l.msg === 'refused')).to.deep.equal([]);
    expect(await counted(400)).to.equal(malformedBefore);
  });

  it("repeats no more than the start of a caller's long text in a refusal's answer and log line", async () => {
    const long = (c: string): string => c.repeat(8000);
    const http = async (requestId: string, path: string, headers: Record<string, string>, body: string): Promise<string> => {
      const res = await fetch(`http://127.0.0.1:${server.httpPort!}${path}`, {
        method: 'POST',
        body,
        headers: { ...headers, 'x-request-id': requestId },
      });
      expect(res.status, requestId).to.be.oneOf([400, 415]);
      return ((await res.json()) as { msg: string }).msg;
    };
    const grpcRefusal = async (requestId: string, headers: http2.OutgoingHttpHeaders): Promise<string> => {
      const session = http2.connect(`http://127.0.0.1:${server.port}`);
      try {
        return decodeURIComponent(String((await recognizeAnswer(session, requestId, headers))['grpc-message']));
      } finally {
        session.destroy();
      }
    };
    const answers = {
      'long-json-field': await http(
        'long-json-field',
        '/api/ocr',
        { 'content-type': 'application/json' },
        `{"image": "", "${'x'.repeat(1_000_000)}": 1}`,
      ),
      'long-option-name': await http('long-option-name', `/api/ocr?${long('o')}=1`, { 'content-type': 'image/png' }, 'x'),
      'long-content-type': await http('long-content-type', '/api/ocr', { 'content-type': `text/${long('t')}` }, 'x'),
      'long-path': await http('long-path', `/%zz${long('p')}`, {}, 'x'),
      'long-priority': await grpcRefusal('long-priority', { 'ocr-priority': long('b') }),
      'long-grpc-timeout': await grpcRefusal('long-grpc-timeout', { 'grpc-timeout': long('9') }),
      'long-grpc-encoding': await grpcRefusal('long-grpc-encoding', { 'grpc-encoding': long('g') }),
    };
    for (const [requestId, message] of Object.entries(answers)) {
      // Its start, and how long it was: enough to find the mistake, and no more.
      expect(message, requestId).to.match(/… \(\d+ characters\)/);
      expect(message.length, requestId).to.be.below(1000);
    }
    for (const requestId of Object.keys(answers)) {
      const line = await lineOf(server, requestId, 'refused');
      expect(JSON.stringify(line).length, requestId).to.be.below(1500);
    }
  });

  it('logs a call refused for what its headers hold (grpc-timeout, grpc-encoding, metadata size) under the id it sends back', async () => {
    const refusals: [requestId: string, headers: http2.OutgoingHttpHeaders, code: string][] = [
      ['bad-timeout', { 'grpc-timeout': '1.5S' }, 'INVALID_ARGUMENT'],
      ['compressed', { 'grpc-encoding': 'gzip' }, 'UNIMPLEMENTED'],
      ['large-metadata', { 'x-padding': 'p'.repeat(40_000) }, 'INVALID_ARGUMENT'],
    ];
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    try {
      for (const [requestId, headers, code] of refusals) {
        const answer = await recognizeAnswer(session, requestId, headers);
        expect(answer['grpc-status'], requestId).to.equal(String(grpc.status[code as keyof typeof grpc.status]));
        expect(answer['x-request-id'], requestId).to.equal(requestId);
        const line = await lineOf(server, requestId, 'refused');
        expect(line, requestId).to.include({ method: 'Recognize', code });
        expect(line.ms, requestId).to.be.a('number');
        expect(line.peer, requestId).to.match(PEER);
      }
    } finally {
      session.destroy();
    }
  });

  it('logs a call refused for load from its headers, at debug, under the id it sends back', async () => {
    // The one worker busy with a large page for seconds: no room ahead of a call of 500 ms.
    const busy = new OcrClient(`127.0.0.1:${server.port}`, { deadlineMs: 120_000 });
    const page = busy.recognize(await textImage('A large page keeps the worker busy', 1600, 1400), { maxSideLen: 1600 });
    await waitFor(async () => (await metricSample(server.httpPort!, 'ocr_workers_busy')) === 1, 30_000, 'the worker busy');
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    try {
      const headers = await recognizeAnswer(session, 'no-room-1', { 'grpc-timeout': '500m' });
      expect(headers['grpc-status']).to.be.oneOf([String(grpc.status.DEADLINE_EXCEEDED), String(grpc.status.RESOURCE_EXHAUSTED)]);
      expect(headers['x-request-id']).to.equal('no-room-1');
      const line = await lineOf(server, 'no-room-1', 'refused');
      expect(line).to.include({ method: 'Recognize' });
      expect(line.peer).to.match(PEER);
    } finally {
      session.destroy();
      await page;
      busy.close();
    }
  });

  it('sends a gRPC call its request id in its trailers, the one its log line names, whether or not it sent one', async () => {
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const identity = (b: Buffer): Buffer => b;
    const recognize = (bytes: Buffer, metadata: grpc.Metadata): Promise<grpc.StatusObject> =>
      new Promise((resolve) => {
        const body = Buffer.from(RecognizeRequest.encode({ image: bytes }).finish());
        const call = client.makeUnaryRequest(`/${OCR_SERVICE}/Recognize`, identity, identity, body, metadata, () => undefined);
        call.on('status', resolve);
      });
    try {
      const answered = await recognize(image, new grpc.Metadata());
      expect(answered.code).to.equal(grpc.status.OK);
      const [madeId] = answered.metadata.get('x-request-id');
      expect(madeId).to.be.a('string');
      expect((await lineOf(server, String(madeId), 'answered')).peer).to.match(PEER);

      const refused = await recognize(Buffer.from('not an image'), new grpc.Metadata());
      expect(refused.code).to.equal(grpc.status.INVALID_ARGUMENT);
      const [refusedId] = refused.metadata.get('x-request-id');
      const line = await lineOf(server, String(refusedId), 'refused');
      expect(line).to.include({ method: 'Recognize', code: 'INVALID_ARGUMENT' });
      expect(line.ms).to.be.a('number');

      const own = new grpc.Metadata();
      own.set('x-request-id', 'grpc-own-id');
      expect((await recognize(image, own)).metadata.get('x-request-id')).to.deep.equal(['grpc-own-id']);
    } finally {
      client.close();
    }
  });
});
