import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv } from 'ajv';
import { expect } from 'chai';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface Response {
  headers?: Record<string, { required?: boolean }>;
  content?: Record<string, { schema: object }>;
}
type Document = { paths: Record<string, Record<string, { responses: Record<string, Response> }>> };

/** What an operation says a request may carry. */
interface RequestSide {
  parameters: { name: string; in: string; schema: object }[];
  requestBody: { content: Record<string, { schema: object }> };
}

const receipt = readFileSync(path.join(EVAL_DEV, 'docs', 'd004_receipt.jpg'));
const lineImage = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));

const imageForm = (field: string, ...files: Uint8Array[]): FormData => {
  const form = new FormData();
  for (const file of files) form.append(field, new Blob([file]), 'scan.bin');
  return form;
};

/** The requests a client generated from /openapi.json would make, the answers each route gives among them. */
interface Exchange {
  what: string;
  route: string;
  method?: string;
  body?: () => RequestInit['body'];
  type?: string;
  /** The status this request gets, so that each shape the document declares is met. */
  status: number;
  /** Fields the answer holds, where the status alone does not show the case was reached. */
  holds?: object;
}

const EXCHANGES: Exchange[] = [
  { what: 'a page', route: '/api/ocr', method: 'POST', body: () => imageForm('image', receipt), status: 200 },
  {
    what: 'the same page again, from the cache',
    route: '/api/ocr',
    method: 'POST',
    body: () => imageForm('image', receipt),
    status: 200,
    holds: { cached: true },
  },
  {
    what: 'a page as a raw body',
    route: '/api/ocr?use_angle_cls=true',
    method: 'POST',
    body: () => receipt,
    type: 'image/jpeg',
    status: 200,
  },
  {
    what: 'a page as JSON',
    route: '/api/ocr',
    method: 'POST',
    body: () => JSON.stringify({ image: lineImage.toString('base64') }),
    type: 'application/json',
    status: 200,
  },
  {
    what: 'line images, one not an image',
    route: '/api/ocr/lines',
    method: 'POST',
    body: () => imageForm('image', lineImage, Buffer.from('not an image')),
    status: 200,
  },
  {
    what: 'more line images than the limit',
    route: '/api/ocr/lines',
    method: 'POST',
    body: () => imageForm('image', lineImage, lineImage, lineImage),
    status: 413,
  },
  {
    what: 'an option out of range',
    route: '/api/ocr?max_side_len=1',
    method: 'POST',
    body: () => imageForm('image', receipt),
    status: 400,
  },
  { what: 'a body type not taken', route: '/api/ocr', method: 'POST', body: () => 'hello', type: 'text/plain', status: 415 },
  {
    what: 'a body over the limit',
    route: '/api/ocr',
    method: 'POST',
    body: () => Buffer.alloc(3 * 1024 * 1024),
    type: 'image/png',
    status: 413,
  },
  { what: 'a timeout too short', route: '/api/ocr?timeout_ms=1', method: 'POST', body: () => imageForm('image', receipt), status: 504 },
  { what: 'the server info', route: '/api/info', status: 200 },
  { what: 'the server info, headers only', route: '/api/info', method: 'HEAD', status: 200 },
  { what: 'liveness', route: '/healthz', status: 200 },
  { what: 'readiness', route: '/readyz', status: 200 },
  { what: 'the metrics', route: '/metrics', status: 200 },
  { what: "a path's methods", route: '/api/ocr', method: 'OPTIONS', status: 204 },
  { what: 'a method the path does not take', route: '/healthz', method: 'DELETE', status: 405 },
  { what: 'a path not served', route: '/api/nothing', status: 404 },
];

describe('the HTTP API answers as /openapi.json says', function () {
  this.timeout(120_000);
  let t: TestServer;
  let base: string;
  let doc: Document;
  const ajv = new Ajv({ strict: false, allErrors: true });

  before(async () => {
    t = await startTestServer({
      httpPort: 0,
      limits: { maxMessageBytes: 2 * 1024 * 1024, maxLinesPerRequest: 2 },
      cache: { backend: { kind: 'memory' }, maxBytes: 1024 * 1024, ttlMs: 60_000 },
    });
    base = `http://127.0.0.1:${t.server.httpPort!}`;
    doc = (await (await fetch(`${base}/openapi.json`)).json()) as Document;
  });
  after(() => t?.stop());

  it('is a valid OpenAPI document', async () => {
    const result = await new Validator().validate(doc);
    expect(result.errors ?? [], JSON.stringify(result.errors)).to.deep.equal([]);
    expect(result.valid).to.equal(true);
  });

  it('reads the request headers the document lists, and refuses the JSON bodies it rules out', async () => {
    const post = doc.paths['/api/ocr']!.post! as unknown as RequestSide;
    const headers = new Map(post.parameters.filter((p) => p.in === 'header').map((p) => [p.name, p.schema]));
    expect([...headers.keys()]).to.include.members(['ocr-timeout-ms', 'ocr-priority', 'x-request-id']);
    const sent = (body: object, more: Record<string, string> = {}): Promise<globalThis.Response> =>
      fetch(`${base}/api/ocr`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...more } });
    const image = lineImage.toString('base64');
    // Each header is read: the timeout is kept, a priority outside the document's values refused, the id answered back.
    expect((await sent({ image }, { 'ocr-timeout-ms': '1' })).status).to.equal(504);
    expect(ajv.validate(headers.get('ocr-priority')!, 'urgent')).to.equal(false);
    expect((await sent({ image }, { 'ocr-priority': 'urgent' })).status).to.equal(400);
    expect((await sent({ image }, { 'x-request-id': 'conformance-1' })).headers.get('x-request-id')).to.equal('conformance-1');
    // A body the document's schema takes is read; one it rules out is refused, not read in part.
    const schema = post.requestBody.content['application/json']!.schema;
    for (const body of [
      { image, options: { max_side_len: 960, timeout_ms: 60_000 } },
      { image, extra: 1 },
      { image, images: [image] },
      { image, options: { max_side_length: 960 } },
    ]) {
      const answer = await sent(body);
      expect(answer.status === 200, `${JSON.stringify(body).slice(0, 200)}: ${await answer.text()}`).to.equal(ajv.validate(schema, body));
    }
  });

  for (const { what, route, method = 'GET', body, type, status, holds } of EXCHANGES) {
    it(`${what}: ${method} ${route}`, async () => {
      const answer = await fetch(`${base}${route}`, {
        method,
        ...(body ? { body: body() } : {}),
        ...(type ? { headers: { 'content-type': type } } : {}),
      });
      const text = await answer.text();
      // A path the document does not list is answered as any path's default (a 404 in the error shape).
      const operations = doc.paths[new URL(route, base).pathname] ?? doc.paths['/healthz']!;
      const { responses } = operations[method.toLowerCase()] ?? operations.get!;
      const declared = responses[String(answer.status)] ?? responses.default!;
      const seen = `${method} ${route} answered ${answer.status} ${text.slice(0, 300)}`;
      expect(answer.status, seen).to.equal(status);
      if (holds) expect(JSON.parse(text), seen).to.deep.include(holds);
      for (const [name, header] of Object.entries(declared.headers ?? {})) {
        if (header.required) expect(answer.headers.has(name), `${seen}: header ${name}`).to.equal(true);
      }
      if (!declared.content || method === 'HEAD') {
        expect(text, seen).to.equal('');
        return;
      }
      const contentType = answer.headers.get('content-type') ?? '';
      const mediaType = Object.keys(declared.content).find((m) => contentType.startsWith(m));
      expect(mediaType, `${seen}: content-type ${contentType} is not among ${Object.keys(declared.content).join(', ')}`).to.be.a('string');
      if (mediaType !== 'application/json') return;
      const validate = ajv.compile(declared.content[mediaType]!.schema);
      expect(validate(JSON.parse(text)), `${seen}: ${ajv.errorsText(validate.errors)}`).to.equal(true);
    });
  }
});
