import { execFile } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { pino } from 'pino';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { OcrCallError, OcrClient, TileStream, type OcrClientOptions } from '../../src/client/index.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { buildHttpApp } from '../../src/http/app.js';
import { clusterBackend, gatewayTokenRefused } from '../../src/http/cluster-backend.js';
import { HttpMetrics } from '../../src/http/http-metrics.js';
import { AccessControl } from '../../src/auth/access-control.js';
import { ServerInfo } from '../../src/gen/ocr/v1/ocr.js';
import { listenHttpApp } from '../support/http-app.js';
import { registerInstance, type ConsulRegistration } from '../../src/server/consul-registration.js';
import { consulForTests, healthService, type TestConsul } from '../support/consul.js';
import { errorAnswerTimes } from '../support/error-latency.js';
import { textImage } from '../support/images.js';
import { startTestServer, type TestServer } from '../support/server.js';

const ISSUER = 'https://idp.test';
/** A web app's origin allowed to call the HTTP API from its pages (--cors-origin). */
const PORTAL = 'https://portal.test';
const AUDIENCE = 'ocr-test';

interface RawAnswer {
  /** grpc-status; NaN when none came. */
  status: number;
  message: string;
  /** Bytes of response messages. */
  bytes: number;
}

/**
 * One gRPC call made by hand over HTTP/2, so that any `authorization` header can be sent: several,
 * none, or values grpc-js's client would refuse to send. The body is one empty message.
 */
async function rawCall(port: number, method: string, headers: Record<string, string | string[]>): Promise<RawAnswer> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const request = session.request({
      ':method': 'POST',
      ':path': method,
      'content-type': 'application/grpc',
      te: 'trailers',
      // node's HTTP/2 client sends one authorization header: two are sent as HTTP joins them.
      ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v])),
    });
    request.end(Buffer.alloc(5));
    const answer: RawAnswer = { status: NaN, message: '', bytes: 0 };
    const read = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) answer.status = Number(h['grpc-status']);
      if (h['grpc-message'] !== undefined) answer.message = decodeURIComponent(String(h['grpc-message']));
    };
    request.on('response', read);
    request.on('trailers', read);
    request.on('data', (chunk: Buffer) => (answer.bytes += chunk.length));
    await once(request, 'close');
    return answer;
  } finally {
    session.close();
  }
}

/**
 * One gRPC call made by curl, which sends each `authorization` value as a header field of its own
 * (node's HTTP/2 client joins them into one). `body`: a file holding the request message.
 */
async function curlCall(port: number, method: string, authorizations: string[], body: string): Promise<RawAnswer> {
  const args = ['-sS', '-v', '-o', '/dev/null', '--http2-prior-knowledge', '-X', 'POST', '-H', 'content-type: application/grpc'];
  for (const value of authorizations) args.push('-H', `authorization: ${value}`);
  // curl 7.88 may never end after an answer of headers alone (a refusal): what it printed of the answer
  // is read all the same once --max-time stops it.
  const stderr = await promisify(execFile)('curl', [
    ...args,
    '--max-time',
    '10',
    '--data-binary',
    `@${body}`,
    `http://127.0.0.1:${port}${method}`,
  ]).then(
    (done) => done.stderr,
    (err: { stderr?: string }) => err.stderr ?? '',
  );
  return {
    status: Number(/^< grpc-status: (\d+)/m.exec(stderr)?.[1]),
    message: decodeURIComponent(/^< grpc-message: (.*?)\r?$/m.exec(stderr)?.[1] ?? ''),
    bytes: 0,
  };
}

/** An HTTP request made with node:http, which sends repeated headers and Latin-1 values as given; `image`: a PNG body. */
async function rawHttp(
  port: number,
  route: string,
  headers: Record<string, string | string[]>,
  method = 'GET',
  image?: Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path: route, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    request.on('error', reject);
    if (image) request.setHeader('content-type', 'image/png');
    request.end(image);
  });
}

async function callError(promise: Promise<unknown>): Promise<OcrCallError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(OcrCallError);
    return err as OcrCallError;
  }
  throw new Error('expected the call to fail');
}

describe('tokens, scopes and quotas', function () {
  this.timeout(240_000);
  let dir: string;
  const keys = {
    reader: generateApiKey(),
    admin: generateApiKey(),
    limited: generateApiKey(),
    other: generateApiKey(),
    metered: generateApiKey(),
    streamer: generateApiKey(),
    lines: generateApiKey(),
    httpLines: generateApiKey(),
    tiles: generateApiKey(),
    waiting: generateApiKey(),
    paced: generateApiKey(),
  };
  let apiKeysFile: string;
  let signer: CryptoKey;
  let edSigner: CryptoKey;
  let stranger: CryptoKey;
  let t: TestServer;
  let http2Port: number;
  let httpPort: number;
  let line: Buffer;
  const clients: OcrClient[] = [];
  const client = (options: OcrClientOptions = {}, target = t.target): OcrClient => {
    const c = new OcrClient(target, { deadlineMs: 60_000, ...options });
    clients.push(c);
    return c;
  };

  const jwt = (
    opts: {
      key?: CryptoKey;
      alg?: 'ES256' | 'EdDSA';
      kid?: string;
      exp?: number | string;
      nbf?: number;
      aud?: string;
      scope?: string;
      sub?: string;
    } = {},
  ): Promise<string> => {
    const token = new SignJWT({ scope: opts.scope ?? 'ocr:read' })
      .setProtectedHeader({ alg: opts.alg ?? 'ES256', kid: opts.kid ?? (opts.alg === 'EdDSA' ? 'ed' : 'es') })
      .setIssuer(ISSUER)
      .setAudience(opts.aud ?? AUDIENCE)
      .setSubject(opts.sub ?? 'svc-jwt')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m');
    if (opts.nbf !== undefined) token.setNotBefore(opts.nbf);
    return token.sign(opts.key ?? (opts.alg === 'EdDSA' ? edSigner : signer));
  };
  const now = (): number => Math.floor(Date.now() / 1000);
  const keyEntries = [
    { name: 'reader', hash: hashApiKey(keys.reader), scopes: ['ocr:read'] },
    { name: 'admin', hash: hashApiKey(keys.admin), scopes: ['ocr:admin'] },
    { name: 'limited', hash: hashApiKey(keys.limited), scopes: ['ocr:read'], quota: { rps: 2, burst: 2, concurrent: 4 } },
    { name: 'other', hash: hashApiKey(keys.other), scopes: ['ocr:read'], quota: { rps: 2, burst: 2 } },
    { name: 'metered', hash: hashApiKey(keys.metered), scopes: ['ocr:read'], quota: { rps: 1, burst: 1 } },
    { name: 'streamer', hash: hashApiKey(keys.streamer), scopes: ['ocr:read'] },
    // Windows of 3000 and 2000 s: nothing of them comes back while the tests run.
    { name: 'lines', hash: hashApiKey(keys.lines), scopes: ['ocr:read'], quota: { rps: 0.001, burst: 3 } },
    { name: 'http-lines', hash: hashApiKey(keys.httpLines), scopes: ['ocr:read'], quota: { rps: 0.001, burst: 3 } },
    { name: 'tiles', hash: hashApiKey(keys.tiles), scopes: ['ocr:read'], quota: { rps: 0.001, burst: 3 } },
    { name: 'waiting', hash: hashApiKey(keys.waiting), scopes: ['ocr:read'], quota: { rps: 0.001, burst: 2 } },
    // A window of 2 s: room again well within a tile stream's idle limit.
    { name: 'paced', hash: hashApiKey(keys.paced), scopes: ['ocr:read'], quota: { rps: 0.5, burst: 1 } },
  ];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-auth-'));
    apiKeysFile = path.join(dir, 'keys.json');
    writeFileSync(apiKeysFile, JSON.stringify(keyEntries));
    const es = await generateKeyPair('ES256');
    const ed = await generateKeyPair('EdDSA');
    stranger = (await generateKeyPair('ES256')).privateKey;
    signer = es.privateKey;
    edSigner = ed.privateKey;
    const jwksFile = path.join(dir, 'jwks.json');
    writeFileSync(
      jwksFile,
      JSON.stringify({
        keys: [
          { ...(await exportJWK(es.publicKey)), kid: 'es', alg: 'ES256' },
          { ...(await exportJWK(ed.publicKey)), kid: 'ed', alg: 'EdDSA' },
        ],
      }),
    );
    t = await startTestServer({
      httpPort: 0,
      token: keys.reader,
      access: { auth: { apiKeysFile, jwt: { jwksFile, issuer: ISSUER, audience: AUDIENCE, clockSkewS: 30 } } },
      corsOrigins: [PORTAL],
    });
    http2Port = t.server.port;
    httpPort = t.server.httpPort!;
    line = await textImage('Hello 2024');
  });
  after(async () => {
    for (const c of clients) c.close();
    await t?.stop();
  });

  const malformed: [string, Record<string, string | string[]>][] = [
    ['no authorization', {}],
    ['an empty value', { authorization: '' }],
    ['"Bearer" alone', { authorization: 'Bearer' }],
    ['"Bearer " and nothing', { authorization: 'Bearer ' }],
    ['"Bearer " and garbage', { authorization: 'Bearer %%%<>{}' }],
    ['a very long token', { authorization: `Bearer ${'x'.repeat(12_000)}` }],
    ['two tokens in one value', { authorization: `Bearer ${keys.reader} ${keys.reader}` }],
    ['two authorization headers', { authorization: [`Bearer ${keys.reader}`, `Bearer ${keys.reader}`] }],
    ['basic auth', { authorization: `Basic ${Buffer.from(`reader:${keys.reader}`).toString('base64')}` }],
    ['the key without its scheme', { authorization: keys.reader }],
    ['an unknown key', { authorization: `Bearer ${generateApiKey()}` }],
    ['a JWT of garbage', { authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.AAAA' }],
  ];

  it('refuses every gRPC call without a valid token, before its handler runs: UNAUTHENTICATED, the token never in the message', async () => {
    for (const [what, headers] of malformed) {
      for (const method of ['/ocr.v1.OcrService/Recognize', '/ocr.v1.OcrService/RecognizeLines', '/ocr.v1.OcrService/GetServerInfo']) {
        const answer = await rawCall(http2Port, method, headers);
        expect(answer.status, `${what}, ${method}: ${answer.message}`).to.equal(16);
        expect(answer.bytes, what).to.equal(0);
        expect(answer.message).not.to.include(keys.reader.slice(4, 20));
      }
    }
    // Latin-1 (non-ASCII) in the header: node's HTTP/2 client sends it as bytes.
    const latin = await rawCall(http2Port, '/ocr.v1.OcrService/Recognize', { authorization: `Bearer caf\u00e9` }).catch(() => null);
    if (latin) expect(latin.status).to.equal(16);
    const stream = await rawCall(http2Port, '/ocr.v1.OcrService/RecognizeTiles', {});
    expect(stream.status).to.equal(16);
    expect(stream.message).to.match(/^no token/);
    // Each timed with its method and code, as refusals for load are.
    expect((await errorAnswerTimes(t.server.metrics, 'Recognize', 'UNAUTHENTICATED')).count).to.be.at.least(malformed.length);
    expect((await errorAnswerTimes(t.server.metrics, 'RecognizeTiles', 'UNAUTHENTICATED')).count).to.be.at.least(1);
  });

  it('refuses a gRPC call with two authorization headers, whichever comes first, as HTTP does', async () => {
    const body = path.join(dir, 'empty-message');
    writeFileSync(body, Buffer.alloc(5));
    // Node's HTTP/2 keeps the first of repeated single-value headers: the valid key first was served.
    for (const values of [
      [`Bearer ${keys.reader}`, 'Bearer unknown'],
      ['Bearer unknown', `Bearer ${keys.reader}`],
    ]) {
      const answer = await curlCall(http2Port, '/ocr.v1.OcrService/GetServerInfo', values, body);
      expect(answer.status, answer.message).to.equal(16);
      expect(answer.message).to.equal('2 authorization values: send exactly one bearer token');
    }
    expect((await curlCall(http2Port, '/ocr.v1.OcrService/GetServerInfo', [`Bearer ${keys.reader}`], body)).status).to.equal(0);
  });

  it('refuses a gRPC token with a tab or a non-ASCII character as malformed, as HTTP does, not as no token', async () => {
    const body = path.join(dir, 'empty-message');
    writeFileSync(body, Buffer.alloc(5));
    for (const value of [`Bearer\t${keys.reader}`, `Bearer ${keys.reader}\u00e9`]) {
      const answer = await curlCall(http2Port, '/ocr.v1.OcrService/GetServerInfo', [value], body);
      const overHttp = JSON.parse((await rawHttp(httpPort, '/api/info', { authorization: value })).body) as { msg: string };
      expect(answer.status, answer.message).to.equal(16);
      expect(answer.message).to.match(/^malformed/);
      expect(answer.message).to.equal(overHttp.msg);
      expect(answer.message).not.to.include(keys.reader.slice(4, 20));
    }
  });

  it('keeps gRPC health open without a token, and reflection closed', async () => {
    const health = await rawCall(http2Port, '/grpc.health.v1.Health/Check', {});
    expect(health.status).to.equal(0);
    expect(health.bytes).to.be.greaterThan(5);
    const reflection = await rawCall(http2Port, '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', {});
    expect(reflection.status).to.equal(16);
  });

  it('says what is wrong with a JWT: expired, not yet valid, wrong audience, a key not in the JWKS', async () => {
    const cases: [string, Promise<string>, RegExp][] = [
      ['expired', jwt({ exp: now() - 600 }), /^the token expired at \d{4}-/],
      ['not yet valid', jwt({ nbf: now() + 600 }), /^the token is not yet valid/],
      ['wrong audience', jwt({ aud: 'another-service' }), /^wrong audience/],
      ['unknown key', jwt({ key: stranger, kid: 'stranger' }), /^unknown key/],
      ['bad signature', jwt({ key: stranger }), /^bad signature/],
    ];
    for (const [what, token, message] of cases) {
      const err = await callError(client({ token: await token, maxAttempts: 1 }).recognizeLines([line]));
      expect(err.code, what).to.equal('UNAUTHENTICATED');
      expect(err.details, what).to.match(message);
      const res = await fetch(`http://127.0.0.1:${httpPort}/api/ocr/lines`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await token}` },
      });
      expect(res.status, what).to.equal(401);
      expect(res.headers.get('www-authenticate'), what).to.match(/^Bearer realm="ocr", error="invalid_token", error_description="/);
      expect(((await res.json()) as { msg: string }).msg, what).to.match(message);
    }
    expect((await callError(client({ maxAttempts: 1 }).recognizeLines([line]))).details).to.match(/^no token/);
  });

  it('refuses every HTTP request without a valid token with 401 and a Bearer challenge, while health answers', async () => {
    for (const [what, headers] of malformed) {
      for (const [route, method] of [
        ['/api/ocr', 'POST'],
        ['/api/ocr/lines', 'POST'],
        ['/api/info', 'GET'],
        ['/metrics', 'GET'],
      ] as const) {
        const res = await rawHttp(httpPort, route, headers, method);
        expect(res.status, `${what}, ${route}: ${res.body}`).to.equal(401);
        expect(res.headers['www-authenticate']).to.match(/^Bearer realm="ocr"/);
        expect(res.headers['www-authenticate']).not.to.include(keys.reader.slice(4, 20));
        expect(res.body).not.to.include(keys.reader.slice(4, 20));
      }
    }
    expect((await rawHttp(httpPort, '/api/info', { authorization: 'Bearer caf\u00e9' })).status).to.equal(401);
    expect((await rawHttp(httpPort, '/healthz', {})).status).to.equal(200);
    expect((await rawHttp(httpPort, '/readyz', {})).status).to.equal(200);
    expect((await rawHttp(httpPort, '/', {})).status).to.equal(200);
  });

  it("answers a browser's preflight without a token, and a refusal for want of one with headers the page may read", async () => {
    const preflight = await rawHttp(
      httpPort,
      '/api/ocr',
      { origin: PORTAL, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      'OPTIONS',
    );
    expect(preflight.status).to.equal(204);
    expect(preflight.headers['access-control-allow-origin']).to.equal(PORTAL);
    expect(preflight.headers['access-control-allow-headers']).to.equal('authorization');
    const refused = await rawHttp(httpPort, '/api/info', { origin: PORTAL });
    expect(refused.status).to.equal(401);
    expect(refused.headers['access-control-allow-origin']).to.equal(PORTAL);
    expect(refused.headers['access-control-expose-headers']).to.include('www-authenticate');
    // Another origin's page is told nothing it may read.
    expect((await rawHttp(httpPort, '/api/info', { origin: 'https://elsewhere.test' })).headers).not.to.have.property(
      'access-control-allow-origin',
    );
  });

  it('refuses a token without the scope: PERMISSION_DENIED / 403 naming the scope', async () => {
    const err = await callError(client({ token: keys.admin, maxAttempts: 1 }).recognizeLines([line]));
    expect(err.code).to.equal('PERMISSION_DENIED');
    expect(err.details).to.equal(
      'missing scope ocr:read: RecognizeLines needs it, and the token of key:admin carries ocr:admin; send a token that carries ocr:read',
    );
    const noScope = await jwt({ scope: 'profile' });
    expect((await callError(client({ token: noScope, maxAttempts: 1 }).getServerInfo())).code).to.equal('PERMISSION_DENIED');
    const res = await rawHttp(httpPort, '/api/info', { authorization: `Bearer ${keys.admin}` });
    expect(res.status).to.equal(403);
    expect(res.headers['www-authenticate']).to.include('error="insufficient_scope"').and.include('scope="ocr:read"');
    // /metrics is the admin's.
    expect((await rawHttp(httpPort, '/metrics', { authorization: `Bearer ${keys.admin}` })).status).to.equal(200);
    expect((await rawHttp(httpPort, '/metrics', { authorization: `Bearer ${keys.reader}` })).status).to.equal(403);
  });

  it('serves a valid API key and valid JWTs (ES256, EdDSA; a function giving the token), over gRPC and HTTP', async () => {
    const byKey = await t.client.recognizeLines([line]);
    expect(byKey.results[0]!.text).to.include('2024');
    const es = await jwt();
    const byJwt = await client({ token: async () => es }).recognizeLines([line]);
    expect(byJwt.results[0]!.text).to.include('2024');
    const ed = await jwt({ alg: 'EdDSA' });
    expect((await client({ token: () => ed }).getServerInfo()).instanceId).to.equal(t.server.instanceId);
    const body = new FormData();
    body.append('image', new Blob([line]), 'line.png');
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/ocr/lines`, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${ed}` },
    });
    expect(res.status).to.equal(200);
  });

  it('ends an open RecognizeTiles stream at its next image once its key is revoked: UNAUTHENTICATED, the answers before it kept', async () => {
    const streamer = client({ token: keys.streamer });
    const stream = new TileStream(streamer.recognizeTiles());
    const first = await stream.recognize(line, { tileSize: 512 });
    expect(first.lines.map((l) => l.text).join('')).to.include('2024');
    writeFileSync(apiKeysFile, JSON.stringify(keyEntries.filter((k) => k.name !== 'streamer')));
    await waitFor(
      () =>
        streamer.getServerInfo().then(
          () => false,
          (err: unknown) => err instanceof OcrCallError && err.code === 'UNAUTHENTICATED',
        ),
      10_000,
      'the revoked key to be refused on new calls',
    );
    const refused = await callError(stream.recognize(line, { tileSize: 512 }));
    expect(refused.code).to.equal('UNAUTHENTICATED');
    expect(refused.details).to.match(/^this stream's token no longer holds: unknown API key: it is not in the key file \(revoked/);
    expect(refused.details).to.not.include(keys.streamer);
  });

  it('refuses calls over a quota with RESOURCE_EXHAUSTED / 429 and a retry hint, leaves other callers alone, and recovers', async () => {
    const limited = client({ token: keys.limited, maxAttempts: 1 });
    const other = client({ token: keys.other, maxAttempts: 1 });
    // Line up with a fresh window: wait out any earlier one.
    await waitFor(
      () =>
        limited.getServerInfo().then(
          () => true,
          () => false,
        ),
      5000,
      'a window of the quota',
    );
    await limited.getServerInfo();
    const refused = await callError(limited.getServerInfo());
    expect(refused.code).to.equal('RESOURCE_EXHAUSTED');
    expect(refused.details).to.match(/^over the quota of key:limited: 2 calls a second, 2 at most at once; retry in \d+ ms$/);
    const pushback = Number(refused.metadata.get('grpc-retry-pushback-ms')[0]);
    expect(pushback).to.be.within(1, 1000);
    // Another key, and the same caller over HTTP, share nothing but the key's count.
    await other.getServerInfo();
    await other.getServerInfo();
    const res = await rawHttp(httpPort, '/api/info', { authorization: `Bearer ${keys.limited}` });
    expect(res.status).to.equal(429);
    // The hint, under a second, was waited through while the answer was held (src/http/refusal-hold.ts).
    expect(res.headers['retry-after']).to.equal('0');
    await new Promise((resolve) => setTimeout(resolve, pushback + 20));
    await limited.getServerInfo();
    // The SDK's own retry waits out the hint within the deadline.
    const patient = client({ token: keys.limited, maxAttempts: 3 });
    for (let i = 0; i < 4; i++) await patient.getServerInfo();
  });

  it('counts a RecognizeLines call as one call, whatever its line images, as a page of as many lines', async () => {
    const lines = client({ token: keys.lines, maxAttempts: 1 });
    expect((await lines.recognizeLines([line, line, line, line])).results).to.have.length(4);
    await lines.getServerInfo();
    await lines.getServerInfo();
    const over = await callError(lines.getServerInfo());
    expect(over.details).to.match(/^over the quota of key:lines: 0\.001 calls a second, 3 at most at once; retry in \d+ ms$/);
  });

  it('counts POST /api/ocr/lines as one call, whatever its line images: 429 past the window', async () => {
    const post = async (images: number): Promise<{ status: number; msg: string }> => {
      const body = new FormData();
      for (let i = 0; i < images; i++) body.append('image', new Blob([line]), `line-${i}.png`);
      const res = await fetch(`http://127.0.0.1:${httpPort}/api/ocr/lines`, {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${keys.httpLines}` },
      });
      return { status: res.status, msg: ((await res.json()) as { msg: string }).msg };
    };
    for (let i = 0; i < 3; i++) expect((await post(4)).status).to.equal(200);
    const over = await post(1);
    expect(over.status).to.equal(429);
    expect(over.msg).to.match(/^over the quota of key:http-lines: /);
  });

  it('counts each image of a RecognizeTiles stream after its first as a call', async () => {
    const tiles = client({ token: keys.tiles, maxAttempts: 1 });
    const stream = new TileStream(tiles.recognizeTiles());
    for (const imageId of ['a', 'b']) expect((await stream.recognize(line, { tileSize: 512, imageId })).lines).to.have.length(1);
    stream.end();
    await tiles.getServerInfo();
    expect((await callError(tiles.getServerInfo())).details).to.match(/^over the quota of key:tiles: /);
  });

  it("holds a stream's image past the quota until the window has room: the stream slowed, its images before answered", async () => {
    const paced = client({ token: keys.paced, maxAttempts: 1 });
    const stream = new TileStream(paced.recognizeTiles());
    try {
      // The second image is over the burst of 1 and waits (at most 2 s) for the window, rather than be refused.
      for (const imageId of ['a', 'b']) expect((await stream.recognize(line, { tileSize: 512, imageId })).lines).to.have.length(1);
    } finally {
      stream.end();
    }
  });

  it("refuses a stream's image whose quota has no room within the stream's idle limit, as a call over its quota, not held for it", async () => {
    // Held, it would wait out the window's 2000 s (or the deadline), its stream's open images
    // keeping their canvases in the server's memory all along, the idle limit not counting.
    const waiting = client({ token: keys.waiting, deadlineMs: 60_000, maxAttempts: 1 });
    const stream = new TileStream(waiting.recognizeTiles());
    for (const imageId of ['a', 'b']) expect((await stream.recognize(line, { tileSize: 512, imageId })).lines).to.have.length(1);
    const third = await callError(stream.recognize(line, { tileSize: 512, imageId: 'c' }));
    expect(third.code).to.equal('RESOURCE_EXHAUSTED');
    expect(third.details).to.match(/over the quota of key:waiting: /);
  });

  it('carries the token through consul:// with the Consul double, whose health check needs none', async () => {
    let consul: TestConsul | undefined;
    let registration: ConsulRegistration | undefined;
    try {
      consul = await consulForTests();
      const service = `ocr-auth-${process.pid}`;
      registration = registerInstance({
        consulAddress: consul.address,
        serviceName: service,
        serviceId: `${service}-1`,
        advertiseHost: '127.0.0.1',
        port: http2Port,
        tags: [],
        meta: {},
        logger: pino({ level: 'silent' }),
      });
      await waitFor(
        async () => (await healthService(consul!.address, service, 'passing=true')).body.length === 1,
        30_000,
        'the instance to pass its check',
      );
      const target = `consul://${consul.address.replace(/^https?:\/\//, '')}/${service}`;
      expect((await client({ token: keys.reader }, target).getServerInfo()).instanceId).to.equal(t.server.instanceId);
      expect((await callError(client({ maxAttempts: 1 }, target).getServerInfo())).code).to.equal('UNAUTHENTICATED');
    } finally {
      await registration?.deregister();
      await consul?.close();
    }
  });

  /** A gateway's HTTP app over the test server, through `sdk`, listening on loopback. */
  const gatewayOver = async (
    sdk: OcrClient,
    logger = pino({ level: 'silent' }),
    ownToken = false,
    access?: AccessControl,
  ): Promise<FastifyInstance> => {
    const backend = clusterBackend(sdk, { deadlineMs: 30_000, ownToken });
    const gateway = await buildHttpApp({
      backend,
      maxImageBytes: 1024 * 1024,
      maxLinesPerRequest: 4,
      logger,
      metrics: new HttpMetrics(backend.registry),
      version: 'test',
      holdRefusals: false,
      ...(access ? { access } : {}),
    });
    await gateway.listen({ host: '127.0.0.1', port: 0 });
    return gateway;
  };

  it("forwards the HTTP caller's token from the gateway: refused without, served with", async () => {
    const gateway = await gatewayOver(client());
    try {
      const url = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}/api/ocr/lines`;
      const post = async (headers: Record<string, string>): Promise<Response> => {
        const body = new FormData();
        body.append('image', new Blob([line]), 'line.png');
        return fetch(url, { method: 'POST', body, headers });
      };
      const without = await post({});
      expect(without.status).to.equal(401);
      // As an instance answers it (RFC 6750): no error where no token came.
      expect(without.headers.get('www-authenticate')).to.equal('Bearer realm="ocr"');
      expect(((await without.json()) as { msg: string }).msg).to.match(/^no token/);
      // A malformed value goes on as it came: the instances refuse it as they would over HTTP.
      const gatewayPort = (gateway.server.address() as AddressInfo).port;
      const answer = (a: { status: number; body: string }): [number, string] => [a.status, (JSON.parse(a.body) as { msg: string }).msg];
      for (const [what, headers] of malformed) {
        const [direct, through] = await Promise.all(
          [httpPort, gatewayPort].map((port) => rawHttp(port, '/api/ocr', headers, 'POST', line)),
        );
        expect(direct.status, what).to.equal(401);
        expect(answer(through), what).to.deep.equal(answer(direct));
        expect(through.headers['www-authenticate'], what).to.equal(direct.headers['www-authenticate']);
      }
      const withKey = await post({ authorization: `Bearer ${keys.reader}` });
      expect(withKey.status).to.equal(200);
      const withAdmin = await post({ authorization: `Bearer ${keys.admin}` });
      expect(withAdmin.status).to.equal(403);
      expect(withAdmin.headers.get('www-authenticate')).to.include('error="insufficient_scope"').and.include('scope="ocr:read"');
      // A token without the scope is told what it called over HTTP, as the instance tells it, not the gRPC method the gateway called.
      for (const [route, method] of [
        ['/api/ocr', 'POST'],
        ['/api/ocr/lines', 'POST'],
        ['/api/info', 'GET'],
      ] as const) {
        const headers = { authorization: `Bearer ${keys.admin}` };
        const [direct, through] = await Promise.all(
          [httpPort, gatewayPort].map((port) => rawHttp(port, route, headers, method, method === 'POST' ? line : undefined)),
        );
        expect(answer(direct)).to.deep.equal([
          403,
          `missing scope ocr:read: ${method} ${route} needs it, and the token of key:admin carries ocr:admin; send a token that carries ocr:read`,
        ]);
        expect(answer(through), route).to.deep.equal(answer(direct));
        expect(through.headers['www-authenticate'], route).to.equal(direct.headers['www-authenticate']);
      }
    } finally {
      await gateway.close();
    }
  });

  it("logs a quota refusal at info on an instance's HTTP port and relayed by a gateway, as over gRPC: a caller's policy, not load", async () => {
    const lines: { level: number; msg: string; status?: number; message?: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as never) });
    /** The log line of the first 429 from `url`, sent until one comes: its level and message. */
    const refusal = async (url: string, headers: Record<string, string> = {}): Promise<[number | undefined, string | undefined]> => {
      lines.length = 0;
      let res: Response;
      do res = await fetch(url, { headers });
      while (res.status === 200);
      expect(res.status).to.equal(429);
      const line = lines.find((l) => l.msg === 'refused' && l.status === 429);
      return [line?.level, line?.message];
    };
    // An instance's HTTP port with a quota by address.
    const access = new AccessControl({ quota: { rps: 1, burst: 1 } });
    const instance = await listenHttpApp({ serverInfo: async () => ServerInfo.fromPartial({}) }, { access, logger, holdRefusals: false });
    // One attempt: the SDK's retry after the hint would take the refused call in the next window.
    const gateway = await gatewayOver(client({ maxAttempts: 1 }), logger);
    try {
      const [level, message] = await refusal(`http://127.0.0.1:${instance.port}/api/info`);
      expect(message).to.match(/^over the quota of addr:127\.0\.0\.1: /);
      expect(level, 'info on the instance').to.equal(30);
      const gatewayUrl = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}/api/info`;
      const [relayedLevel, relayed] = await refusal(gatewayUrl, { authorization: `Bearer ${keys.metered}` });
      expect(relayed).to.match(/^over the quota of key:metered: /);
      expect(relayedLevel, 'info on the gateway').to.equal(30);
    } finally {
      await gateway.close();
      await instance.close();
      access.close();
    }
  });

  it("tells a caller who sent no token that the instances refuse the gateway's own token, not that its key is unknown", async () => {
    const gateway = await gatewayOver(client({ token: generateApiKey() }), undefined, true);
    try {
      const res = await rawHttp((gateway.server.address() as AddressInfo).port, '/api/info', {});
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="ocr"');
      expect((JSON.parse(res.body) as { msg: string }).msg).to.equal(
        gatewayTokenRefused('unknown API key: it is not in the key file (revoked, or mistyped)'),
      );
    } finally {
      await gateway.close();
    }
  });
});
