import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { AccessControl } from '../../src/auth/access-control.js';
import { hashApiKey } from '../../src/auth/api-keys.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { waitFor } from '../../src/dev/wait-for.js';
import { RecognizeResponse, ServerInfo } from '../../src/gen/ocr/v1/ocr.js';
import { NO_INSTANCE_REACHED } from '../../src/http/cluster-backend.js';
import { HttpError, RETRY_AFTER } from '../../src/http/failure.js';
import { HttpMetrics } from '../../src/http/http-metrics.js';
import { OcrError } from '../../src/shared/errors.js';
import { securityHeaders } from '../../src/http/security-headers.js';
import { listenHttpApp } from '../support/http-app.js';
import { pngClaiming } from '../support/images.js';
import { startTestServer, type TestServer } from '../support/server.js';

const doc = readFileSync(path.join(EVAL_DEV, 'docs', 'd004_receipt.jpg'));
const truth = (JSON.parse(readFileSync(path.join(EVAL_DEV, 'docs', 'gt.json'), 'utf8')) as Record<string, { text: string }[]>)[
  'd004_receipt.jpg'
]!;
const lineImages = ['l0000.png', 'l0001.png'].map((f) => readFileSync(path.join(EVAL_DEV, 'lines', f)));

interface Answer {
  code: number;
  msg: string;
  error?: string;
  data: { text: string; confidence: number; box: number[][] }[];
  width: number;
  height: number;
  instance_id: string;
  timings: Record<string, number>;
}

const form = (fields: Record<string, string | Uint8Array | Uint8Array[]>): FormData => {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === 'string') body.append(name, v);
      else body.append(name, new Blob([v], { type: 'application/octet-stream' }), `${name}.bin`);
    }
  }
  return body;
};

/** A multipart body written out by hand, for parts that FormData cannot make: binary without a filename. */
function multipart(parts: { name: string; value: string | Uint8Array; filename?: string }[]): { body: Buffer; type: string } {
  const boundary = 'audit-boundary';
  const chunks = parts.flatMap(({ name, value, filename }) => [
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n\r\n`),
    Buffer.from(value),
    Buffer.from('\r\n'),
  ]);
  return { body: Buffer.concat([...chunks, Buffer.from(`--${boundary}--\r\n`)]), type: `multipart/form-data; boundary=${boundary}` };
}

/**
 * A request with its path and headers as written: fetch resolves `..` away, may mend a malformed
 * path, and sends no Expect. `json`: null for an answer without a body (HEAD's).
 */
function rawRequest(
  port: number,
  method: string,
  requestPath: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; json: { code: number; msg: string; error: string } }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method, path: requestPath, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(text || 'null') as never }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** Share of the ground truth's lines found among the answer's, ignoring full/half-width punctuation. */
function found(answer: Answer): number {
  const norm = (s: string): string => s.replace(/[（(]/g, '(').replace(/[）)]/g, ')').replace(/[：:]/g, ':').replace(/\s/g, '');
  const read = new Set(answer.data.map((l) => norm(l.text)));
  return truth.filter((t) => read.has(norm(t.text))).length / truth.length;
}

describe('HTTP API on ocr serve', function () {
  this.timeout(180_000);
  let t: TestServer;
  let base: string;
  before(async () => {
    t = await startTestServer({ httpPort: 0, limits: { maxMessageBytes: 2 * 1024 * 1024, maxLinesPerRequest: 4 } });
    base = `http://127.0.0.1:${t.server.httpPort!}`;
  });
  after(async () => t?.stop());

  const post = async (route: string, init: RequestInit): Promise<{ status: number; headers: Headers; json: Answer }> => {
    const res = await fetch(`${base}${route}`, { method: 'POST', ...init });
    return { status: res.status, headers: res.headers, json: (await res.json()) as Answer };
  };

  it('reads a page sent as the multipart field "image", in the replaced service\'s shape', async () => {
    const { status, json } = await post('/api/ocr', { body: form({ image: doc }) });
    expect(status).to.equal(200);
    expect(json).to.include({ code: 0, msg: 'success', instance_id: t.server.instanceId });
    expect(found(json)).to.be.above(0.8);
    expect(json.data[0]!.box).to.have.length(4);
    expect(json.data[0]!.confidence).to.be.within(0, 1);
    expect(json.width).to.be.above(0);
    expect(json.timings.total_ms).to.be.above(0);
  });

  it('reads the same page sent as a raw image body, and as JSON base64 with options', async () => {
    const raw = await post('/api/ocr', { body: doc, headers: { 'content-type': 'image/jpeg' } });
    const viaJson = await post('/api/ocr', {
      body: JSON.stringify({ image: doc.toString('base64'), options: { min_confidence: 0.5 } }),
      headers: { 'content-type': 'application/json' },
    });
    // As a browser's readAsDataURL gives it, with the line breaks of MIME base64.
    const dataUrl = await post('/api/ocr', {
      body: JSON.stringify({ image: `data:image/jpeg;base64,${doc.toString('base64').replace(/.{76}/g, '$&\r\n')}` }),
      headers: { 'content-type': 'application/json' },
    });
    const multipart = await post('/api/ocr', { body: form({ image: doc }) });
    for (const answer of [raw, viaJson, dataUrl]) {
      expect(answer.status).to.equal(200);
      expect(answer.json.data.map((l) => l.text)).to.deep.equal(multipart.json.data.map((l) => l.text));
    }
  });

  it("reads an image body sent without a Content-Type, or with a form's, by its bytes (Python requests' data=, curl --data-binary)", async () => {
    const reference = await post('/api/ocr', { body: doc, headers: { 'content-type': 'image/jpeg' } });
    // fetch sends bytes without a Content-Type, as requests.post(url, data=open(f, 'rb')) does.
    const untyped = await post('/api/ocr', { body: doc });
    const asForm = await post('/api/ocr', { body: doc, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    for (const answer of [untyped, asForm]) {
      expect(answer.status, answer.json.msg).to.equal(200);
      expect(answer.json.data.map((l) => l.text)).to.deep.equal(reference.json.data.map((l) => l.text));
    }
    const line = await post('/api/ocr/lines', { body: lineImages[0]! });
    expect(line.status, line.json.msg).to.equal(200);
    expect(line.json.data[0]!.text).to.contain('各区县人民政府');
    // What is no image is told what to send: an HTML form without enctype="multipart/form-data", JSON without its type.
    const form = await post('/api/ocr', { body: 'image=scan.jpg', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).to.equal(415);
    expect(form.json).to.deep.equal({
      code: 3,
      msg:
        'the body, sent as application/x-www-form-urlencoded, is not a JPEG, PNG, WebP, TIFF, GIF or BMP file (14 bytes starting 69 6d 61 67 65 3d 73 63); ' +
        'send the file in the multipart/form-data field \'image\' (an HTML form needs enctype="multipart/form-data"), or the file itself as the body ' +
        '(curl -d @file drops its line breaks: send it with --data-binary)',
      error: 'INVALID_ARGUMENT',
    });
    // What curl -d @scan.jpg sends: the file without its CR and LF bytes, a JPEG still by its first bytes.
    const stripped = Buffer.from(doc.filter((b) => b !== 0x0a && b !== 0x0d));
    const curlData = await post('/api/ocr', { body: stripped, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(curlData.status).to.equal(400);
    expect(curlData.json).to.deep.equal({
      code: 3,
      msg:
        'the body came as application/x-www-form-urlencoded without a single line-break byte, as curl -d @file sends a file after dropping them: ' +
        'send it with curl --data-binary @file',
      error: 'INVALID_ARGUMENT',
    });
    const json = await post('/api/ocr/lines', { body: Buffer.from(JSON.stringify({ images: [] })) });
    expect(json.status).to.equal(415);
    expect(json.json.msg).to.equal(
      'the body, sent without a Content-Type, is not a JPEG, PNG, WebP, TIFF, GIF or BMP file (13 bytes starting 7b 22 69 6d 61 67 65 73); ' +
        "send the image file itself, JSON with Content-Type: application/json, or multipart/form-data with the field 'image'",
    );
  });

  it("tells a URL-encoded form with the image's base64 in a field (Python requests' data={'image': b64}) what to send", async () => {
    const message = (format: string): string =>
      `the body is a URL-encoded form whose field 'image' holds the base64 text of a ${format} image, a form this API does not read: ` +
      "send the file in a multipart/form-data field 'image' (Python requests: files={'image': f}; curl -F image=@file), " +
      "or the base64 text as JSON with Content-Type: application/json (requests: json={'image': text})";
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    // As requests escapes it: base64's '+', '/' and '=' as %2B, %2F and %3D; a form long enough to have no line break by chance.
    const page = await post('/api/ocr', {
      body: new URLSearchParams({ image: doc.toString('base64'), max_side_len: '960' }).toString(),
      headers,
    });
    expect(page.status).to.equal(415);
    expect(page.json).to.deep.equal({ code: 3, msg: message('JPEG'), error: 'INVALID_ARGUMENT' });
    // A data: URL in a field, after another field, as curl --data sends it unescaped.
    const line = await post('/api/ocr/lines', {
      body: `use_angle_cls=true&image=data:image/png;base64,${lineImages[0]!.toString('base64')}`,
      headers,
    });
    expect(line.status).to.equal(415);
    expect(line.json).to.deep.equal({ code: 3, msg: message('PNG'), error: 'INVALID_ARGUMENT' });
  });

  it("reads a JSON body behind UTF-8's byte-order mark, as PowerShell's Out-File writes it", async () => {
    const json = JSON.stringify({ image: lineImages[0]!.toString('base64') });
    const headers = { 'content-type': 'application/json' };
    const plain = await post('/api/ocr', { body: json, headers });
    const marked = await post('/api/ocr', { body: Buffer.from(`\ufeff${json}`), headers });
    expect(marked.status, marked.json.msg).to.equal(200);
    expect(marked.json.data.map((l) => l.text)).to.deep.equal(plain.json.data.map((l) => l.text));
  });

  it('names the Content-Type it does not take, and says what JSON needs when fetch sent it as text', async () => {
    // fetch sends a string body as text/plain unless told otherwise.
    const json = await post('/api/ocr', { body: JSON.stringify({ image: lineImages[0]!.toString('base64') }) });
    expect(json.status).to.equal(415);
    expect(json.json).to.deep.equal({
      code: 3,
      msg:
        "unsupported Content-Type text/plain; send multipart/form-data with the field 'image', an image/* or application/octet-stream body, " +
        'or application/json (JSON sent as text/plain, as fetch sends a string, needs the header Content-Type: application/json)',
      error: 'INVALID_ARGUMENT',
    });
    const other = await post('/api/ocr', { body: doc, headers: { 'content-type': 'binary/octet-stream' } });
    expect(other.json.msg).to.equal(
      "unsupported Content-Type binary/octet-stream; send multipart/form-data with the field 'image', an image/* or application/octet-stream body, or application/json",
    );
  });

  it('takes options as query parameters and form fields, under their gRPC names', async () => {
    const strict = await post('/api/ocr?min_confidence=0.999', { body: form({ image: doc }) });
    const all = await post('/api/ocr', { body: form({ image: doc, min_confidence: '0' }) });
    expect(strict.status).to.equal(200);
    expect(all.status).to.equal(200);
    expect(strict.json.data.length).to.be.below(all.json.data.length);
    expect(strict.json.data.every((l) => l.confidence >= 0.999)).to.equal(true);
  });

  it('reads line images on /api/ocr/lines; a bad one fails alone', async () => {
    const { status, json } = await post('/api/ocr/lines', { body: form({ image: [...lineImages, Buffer.from('not an image')] }) });
    expect(status).to.equal(200);
    expect(json.data).to.have.length(3);
    expect(json.data[0]!.text).to.contain('各区县人民政府');
    // A failed item in the shape of an error answer: the gRPC code's number and name, and what to do.
    expect(json.data[2]).to.deep.include({ text: '', confidence: 0, code: 3, error: 'INVALID_ARGUMENT' });
    expect((json.data[2] as unknown as { msg: string }).msg).to.match(/^image is not a JPEG, PNG/);
  });

  it('tells line images larger together than the memory budget to be fewer and cropped, not to lower max_side_len or go as tiles', async () => {
    // Pages sent as line images: 36 megapixels each, 1.7 GB decoded together, over the 512 MiB budget.
    const page = await pngClaiming(6000, 6000);
    const { status, json } = await post('/api/ocr/lines', { body: form({ image: [page, page, page, page] }) });
    expect(status).to.equal(413);
    expect(json.error).to.equal('RESOURCE_EXHAUSTED');
    expect(json.msg).to.match(
      /^a request of 4 line images needs about \d+ MiB of memory, more than this server's whole budget of \d+ MiB \(--memory-budget-mb\); send fewer line images a request, and crop each to its line or scale it down$/,
    );
  });

  it("tells a file's name sent in place of the file (curl -F without the @) to send the file's bytes", async () => {
    // curl -F image=scan.jpg sends the text as a part without a filename.
    const page = await post('/api/ocr', { body: form({ image: 'scans/receipt 1.jpg' }) });
    expect(page.status).to.equal(415);
    expect(page.json).to.deep.equal({
      code: 3,
      msg:
        "image is the text 'scans/receipt 1.jpg', a file's name rather than the file, not a JPEG, PNG, WebP, TIFF, GIF or BMP file: read the file and send its bytes " +
        "(curl: -F image=@scans/receipt 1.jpg, with the @; Python requests: files={'image': open('scans/receipt 1.jpg', 'rb')})",
      error: 'INVALID_ARGUMENT',
    });
    // Python requests' files={'image': '发票.png'} sends the string as the file's contents; on /api/ocr/lines it fails alone.
    const lines = await post('/api/ocr/lines', { body: form({ image: [lineImages[0]!, Buffer.from('发票.png')] }) });
    expect(lines.status).to.equal(200);
    expect(lines.json.data[1]).to.deep.include({ code: 3, error: 'INVALID_ARGUMENT' });
    expect((lines.json.data[1] as unknown as { msg: string }).msg).to.equal(
      "image is the text '发票.png', a file's name rather than the file, not a JPEG, PNG, WebP, TIFF, GIF or BMP file: read the file and send its bytes " +
        "(curl: -F image=@发票.png, with the @; Python requests: files={'image': open('发票.png', 'rb')})",
    );
  });

  it('tells a web address sent in place of the image that nothing is fetched from it', async () => {
    const { status, json } = await post('/api/ocr', { body: form({ image: 'https://example.com/scan.jpg' }) });
    expect(status).to.equal(415);
    expect(json).to.deep.equal({
      code: 3,
      msg:
        'image is the web address https://example.com/scan.jpg, not a JPEG, PNG, WebP, TIFF, GIF or BMP file: ' +
        'this server fetches no image from the web: download the file and send its bytes',
      error: 'INVALID_ARGUMENT',
    });
  });

  it("repeats no credential of a web address sent in place of the image: its user and password, a presigned URL's query", async () => {
    const sent = 'https://alice:s3cret@bucket.example.com/scans/scan.jpg?X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=deadbeef';
    const { status, json } = await post('/api/ocr', { body: form({ image: sent }) });
    expect(status).to.equal(415);
    expect(json.msg).to.include('image is the web address https://bucket.example.com/scans/scan.jpg?…, not');
    for (const secret of ['alice', 's3cret', 'AKIDEXAMPLE', 'deadbeef']) expect(json.msg).not.to.include(secret);
  });

  it('tells a line image over the pixel limit, which fails alone, to be cropped, not to go as tiles over gRPC', async () => {
    const { status, json } = await post('/api/ocr/lines', { body: form({ image: [lineImages[0]!, await pngClaiming(60_000, 60_000)] }) });
    expect(status).to.equal(200);
    expect(json.data[0]!.text).to.contain('各区县人民政府');
    expect(json.data[1]).to.deep.equal({
      text: '',
      confidence: 0,
      code: 8,
      msg:
        "image is 60000×60000 = 3600000000 pixels, over this server's limit of 40000000; scale it down or crop it to its line " +
        '(a line image is read whole, never as tiles; a page this large goes as tiles over the gRPC API: RecognizeTiles, or `ocr recognize --tile-size 1024 FILE`)',
      error: 'RESOURCE_EXHAUSTED',
    });
  });

  for (const [what, init, status, error, message] of [
    ['no image', { body: form({ min_confidence: '0.5' }) }, 400, 'INVALID_ARGUMENT', /no image/],
    [
      'a body that is no image',
      { body: 'hello', headers: { 'content-type': 'image/png' } },
      415,
      'INVALID_ARGUMENT',
      /not a JPEG, PNG, WebP, TIFF, GIF or BMP file/,
    ],
    [
      'a PDF sent as an image',
      { body: form({ image: Buffer.from('%PDF-1.7\n%âãÏÓ\n1 0 obj\n') }) },
      415,
      'INVALID_ARGUMENT',
      /^image is a PDF document, not a JPEG, PNG, WebP, TIFF, GIF or BMP file: send each page as an image/,
    ],
    [
      'an unsupported content type',
      { body: 'hello', headers: { 'content-type': 'text/plain' } },
      415,
      'INVALID_ARGUMENT',
      /unsupported Content-Type/,
    ],
    [
      'a compressed body',
      { body: gzipSync(doc), headers: { 'content-type': 'image/jpeg', 'content-encoding': 'gzip' } },
      415,
      'INVALID_ARGUMENT',
      /^the body is sent with Content-Encoding: gzip, which this server does not decode; send the image file as it is/,
    ],
    [
      'an option out of range',
      { body: form({ image: doc, max_side_len: '5' }) },
      400,
      'INVALID_ARGUMENT',
      /options\.max_side_len is 5; it must lie in \[32, 8192\]/,
    ],
    ['an unknown option', { body: form({ image: doc, max_side: '900' }) }, 400, 'INVALID_ARGUMENT', /unknown option 'max_side'/],
    [
      'an option of the wrong type',
      { body: form({ image: doc, use_angle_cls: 'maybe' }) },
      400,
      'INVALID_ARGUMENT',
      /use_angle_cls is 'maybe'; send true or false/,
    ],
    ['malformed JSON', { body: '{"image": ', headers: { 'content-type': 'application/json' } }, 400, 'INVALID_ARGUMENT', /not valid JSON/],
    [
      'a multipart body without its boundary',
      { body: 'x', headers: { 'content-type': 'multipart/form-data' } },
      400,
      'INVALID_ARGUMENT',
      /^the multipart body is malformed \(.*boundary.*\); send it as a browser, curl -F or Python requests' files= make it$/i,
    ],
    [
      'a multipart body cut short',
      {
        body: '--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\nxx',
        headers: { 'content-type': 'multipart/form-data; boundary=b' },
      },
      400,
      'INVALID_ARGUMENT',
      /^the multipart body is malformed \(.*end.*\)/i,
    ],
    [
      'more form fields than any request needs',
      { body: form({ image: doc, ...Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, '1'])) }) },
      413,
      'RESOURCE_EXHAUSTED',
      /^more than 32 form fields in one request, this server's limit: send the image and its options only$/,
    ],
    [
      'more multipart parts than any request needs, none of them an image (it was told "more than 4 images")',
      {
        body: `${'--b\r\nContent-Type: text/plain\r\n\r\nx\r\n'.repeat(40)}--b--\r\n`,
        headers: { 'content-type': 'multipart/form-data; boundary=b' },
      },
      413,
      'RESOURCE_EXHAUSTED',
      /^the multipart body has more than 36 parts, this server's limit, those without a field name included: send the image in the field 'image' and its options only$/,
    ],
    [
      'a form field named after a property of every object (it was told "prototype property is not allowed as field name")',
      { body: form({ image: doc, constructor: '1' }) },
      400,
      'INVALID_ARGUMENT',
      /^a form field is named after a property of every JavaScript object \(__proto__, constructor, toString, \.\.\.\), which this server refuses: send the image in the field 'image' and each option under its own name$/,
    ],
    [
      'base64 that is not (Node alone would decode it to nothing and call the image empty)',
      { body: '{"image": "!!!"}', headers: { 'content-type': 'application/json' } },
      400,
      'INVALID_ARGUMENT',
      /^image is not valid base64: '!' at character 1;/,
    ],
    [
      'a data: URL without ;base64',
      { body: JSON.stringify({ image: `data:image/jpeg,${doc.toString('base64')}` }), headers: { 'content-type': 'application/json' } },
      400,
      'INVALID_ARGUMENT',
      /^image is a data: URL without ;base64, which this API needs: send it as data:<type>;base64,/,
    ],
    [
      'an image over the message limit',
      { body: Buffer.alloc(3 * 1024 * 1024, 0xff), headers: { 'content-type': 'image/jpeg' } },
      413,
      'RESOURCE_EXHAUSTED',
      /larger than this server's limit of 2 MiB/,
    ],
    [
      'a timeout no call can meet',
      { body: form({ image: doc, timeout_ms: '1' }) },
      504,
      'DEADLINE_EXCEEDED',
      /^timeout_ms passed before the answer came/,
    ],
    [
      'a bad priority',
      { body: form({ image: doc }), headers: { 'ocr-priority': 'urgent' } },
      400,
      'INVALID_ARGUMENT',
      /priority is 'urgent'/,
    ],
  ] as const) {
    it(`answers ${status} ${error} for ${what}, with code ≠ 0 and the message`, async () => {
      const answer = await post('/api/ocr', init as RequestInit);
      expect(answer.status, answer.json.msg).to.equal(status);
      expect(answer.json.error).to.equal(error);
      expect(answer.json.code).to.be.a('number').and.not.equal(0);
      expect(answer.json.msg).to.match(message);
    });
  }

  it('answers 413 for line images larger together than the message limit, as gRPC does, sent with or without a length', async () => {
    // Three images of 0.9 MB, each under the 2 MiB limit, 2.7 MB together.
    const lines = [0, 1, 2].map((i) => Buffer.alloc(900_000, i));
    const multipart = new Response(form({ image: lines }));
    const body = Buffer.from(await multipart.arrayBuffer());
    const type = multipart.headers.get('content-type')!;
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < body.length; at += 256 * 1024) controller.enqueue(body.subarray(at, at + 256 * 1024));
        controller.close();
      },
    });
    const answers = [
      await post('/api/ocr/lines', { body, headers: { 'content-type': type } }),
      await post('/api/ocr/lines', { body: chunked, headers: { 'content-type': type }, duplex: 'half' } as RequestInit),
      await post('/api/ocr/lines', {
        body: JSON.stringify({ images: lines.map((l) => l.toString('base64')) }),
        headers: { 'content-type': 'application/json' },
      }),
    ];
    for (const answer of answers) {
      expect(answer.status, answer.json.msg).to.equal(413);
      expect(answer.json.error).to.equal('RESOURCE_EXHAUSTED');
      expect(answer.json.msg).to.equal(
        "the line images of this request are larger together than this server's limit of 2 MiB a request: send fewer of them a request, or, for one line image this large, crop it to its line or scale it down",
      );
    }
    // Refused before its body is read, at most twice the limit: the rest is read and dropped, so that a
    // client still sending it reads its answer rather than a reset; the connection is kept.
    expect(answers[0]!.headers.get('connection')).to.not.equal('close');
    // Declared larger still: not read, and the connection closes once the client has sent it all.
    // Half-open, as a client still sending is once the server has ended its side.
    const socket = net.connect({ port: t.server.httpPort!, host: '127.0.0.1', allowHalfOpen: true });
    let raw = '';
    socket.on('data', (d: Buffer) => (raw += d.toString()));
    const declared = 5 * 1024 * 1024;
    socket.write(`POST /api/ocr/lines HTTP/1.1\r\nHost: ocr\r\nContent-Type: ${type}\r\nContent-Length: ${declared}\r\n\r\n`);
    socket.write(body.subarray(0, 64 * 1024));
    // The answer comes, then the server's end of the connection, while the rest of the body is still to come.
    await once(socket, 'end');
    expect(raw).to.match(/^HTTP\/1\.1 413 /);
    expect(raw).to.match(/\r\nconnection: close\r\n/i);
    // What the client still sends is read and dropped, not met with a reset (lingering-close.test.ts: when it closes).
    let failed: Error | undefined;
    socket.on('error', (err) => (failed = err));
    for (let sent = 64 * 1024; sent < declared; sent += 1024 * 1024) socket.write(Buffer.alloc(Math.min(1024 * 1024, declared - sent)));
    socket.end();
    await once(socket, 'close');
    expect(failed).to.equal(undefined);
  });

  it('answers 413 to a client that sends a body far over the limit whole before it reads, as fetch does', async () => {
    // Ten times the 2 MiB limit: more than the sockets' buffers hold, so the client is still writing when the answer comes.
    const huge = Buffer.alloc(20 * 1024 * 1024, 7);
    const chunked = (): ReadableStream<Uint8Array> =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < huge.length; at += 1024 * 1024) controller.enqueue(huge.subarray(at, at + 1024 * 1024));
          controller.close();
        },
      });
    // Whether the write or the answer comes first is a race: each form is sent several times.
    const answers = [];
    for (let i = 0; i < 4; i++) {
      answers.push(await post('/api/ocr', { body: huge, headers: { 'content-type': 'image/jpeg' } }));
      answers.push(await post('/api/ocr', { body: form({ image: huge }) }));
      answers.push(await post('/api/ocr', { body: chunked(), headers: { 'content-type': 'image/jpeg' }, duplex: 'half' } as RequestInit));
    }
    for (const answer of answers) {
      expect(answer.status, answer.json.msg).to.equal(413);
      expect(answer.json.error).to.equal('RESOURCE_EXHAUSTED');
      expect(answer.headers.get('connection')).to.equal('close');
    }
  });

  it('answers 413 to a multipart body sent without a length once it passes the limit in parts the parser drops: nameless, or a field past its own limit', async () => {
    const chunked = (bytes: Buffer | string): Buffer =>
      Buffer.concat([Buffer.from(`${Buffer.byteLength(bytes).toString(16)}\r\n`), Buffer.from(bytes), Buffer.from('\r\n')]);
    const filler = chunked(Buffer.alloc(256 * 1024, 0x61));
    for (const partHeader of ['Content-Type: text/plain', 'Content-Disposition: form-data; name="note"']) {
      const socket = net.connect({ port: t.server.httpPort!, host: '127.0.0.1', allowHalfOpen: true });
      let raw = '';
      socket.on('data', (d: Buffer) => (raw += d.toString()));
      socket.on('error', () => {});
      socket.write(
        'POST /api/ocr HTTP/1.1\r\nHost: ocr\r\nContent-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n',
      );
      socket.write(chunked(`--b\r\n${partHeader}\r\n\r\n`));
      // Twenty times the 2 MiB limit, then the part and the body end: read whole, it was answered 400 for what it lacked.
      for (let sent = 0; sent < 40 * 1024 * 1024 && raw === '' && !socket.destroyed; sent += filler.length) {
        await new Promise((resolve) => socket.write(filler, resolve));
      }
      if (!socket.destroyed) socket.end(Buffer.concat([chunked('\r\n--b--\r\n'), Buffer.from('0\r\n\r\n')]));
      await once(socket, 'close');
      expect(raw).to.match(/^HTTP\/1\.1 413 /);
      expect(raw).to.match(/\r\nconnection: close\r\n/i);
      const answer = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Answer;
      expect(answer.error).to.equal('RESOURCE_EXHAUSTED');
      expect(answer.msg).to.equal(
        "the request is larger than this server's limit of 2 MiB an image; scale the image down or send it as tiles over gRPC",
      );
    }
  });

  it("answers an unknown route 404 and a route asked with another method 405 with Allow, in the API's shape", async () => {
    const asked = async (method: string, route: string): Promise<[number, string | null, Answer]> => {
      const res = await fetch(`${base}${route}`, { method });
      return [res.status, res.headers.get('allow'), (await res.json()) as Answer];
    };
    const [notFound, , missing] = await asked('GET', '/api/nothing');
    expect(notFound).to.equal(404);
    expect(missing).to.include({ code: 5, error: 'NOT_FOUND' });
    expect(missing.msg).to.equal('no route GET /api/nothing; the API is described at /docs and /openapi.json');
    const [wrongMethod, allow, refused] = await asked('GET', '/api/ocr?min_confidence=0.5');
    expect([wrongMethod, allow]).to.deep.equal([405, 'POST, OPTIONS']);
    expect(refused).to.include({ code: 12, error: 'UNIMPLEMENTED', msg: 'GET /api/ocr is not served; send POST (the API: /docs)' });
    const [, allowGet] = await asked('POST', '/healthz');
    expect(allowGet).to.equal('GET, HEAD, OPTIONS');
    // Counted under the route they asked for, as its other answers are, not as a route unknown.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).to.match(/^ocr_http_requests_total\{route="\/api\/ocr",status="405"\} [1-9]/m);
    expect(metrics).to.match(/^ocr_http_requests_total\{route="\/healthz",status="405"\} [1-9]/m);
  });

  it('answers a route asked with a slash after its path 404, naming the route', async () => {
    const page = await post('/api/ocr/?min_confidence=0.5', { body: form({ image: lineImages[0]! }) });
    expect(page.status).to.equal(404);
    expect(page.json).to.deep.equal({
      code: 5,
      msg: 'no route POST /api/ocr/; the route is /api/ocr, without the slash after it',
      error: 'NOT_FOUND',
    });
    const info = await fetch(`${base}/api/info//`);
    expect(await info.json()).to.deep.include({ msg: 'no route GET /api/info//; the route is /api/info, without the slash after it' });
  });

  it('answers OPTIONS on a route 204 with the Allow that it keeps to, HEAD with GET, as /openapi.json lists them with the 417 of an Expect', async () => {
    for (const [route, allow] of [
      ['/api/info', 'GET, HEAD, OPTIONS'],
      ['/healthz', 'GET, HEAD, OPTIONS'],
      ['/api/ocr', 'POST, OPTIONS'],
    ] as const) {
      const res = await fetch(`${base}${route}`, { method: 'OPTIONS' });
      expect([res.status, res.headers.get('allow'), await res.text()], route).to.deep.equal([204, allow, '']);
      for (const method of allow.split(', '))
        expect((await fetch(`${base}${route}`, { method })).status, `${method} ${route}`).to.not.equal(405);
    }
    expect((await fetch(`${base}/api/nothing`, { method: 'OPTIONS' })).status).to.equal(404);
    // /openapi.json lists what the server answers: each path's methods as its Allow says them, and
    // the statuses of OPTIONS and of a request with an Expect it cannot meet among each method's.
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    for (const [route, operations] of Object.entries(doc.paths)) {
      const options = await fetch(`${base}${route}`, { method: 'OPTIONS' });
      const methods = Object.keys(operations).map((m) => m.toUpperCase());
      expect(options.headers.get('allow'), route).to.equal(methods.join(', '));
      expect(operations.options?.responses, `OPTIONS ${route}`).to.have.property(String(options.status));
      for (const method of methods) {
        const unmet = await rawRequest(t.server.httpPort!, method, route, { expect: '200-ok' });
        expect(unmet.status, `${method} ${route}`).to.equal(417);
        expect(operations[method.toLowerCase()]!.responses, `${method} ${route}`).to.have.property('417');
      }
    }
  });

  it('answers a request to no route, or with a method its route does not take, from its headers, without reading its body', async () => {
    /** The status line of the answer to a POST of `path` whose headers declare `length` bytes of JPEG, none of them sent. */
    const headersOnly = async (path: string, length: number): Promise<string> => {
      const socket = net.connect({ port: t.server.httpPort!, host: '127.0.0.1' });
      try {
        socket.write(`POST ${path} HTTP/1.1\r\nHost: ocr\r\nContent-Type: image/jpeg\r\nContent-Length: ${length}\r\n\r\n`);
        const [first] = (await Promise.race([
          once(socket, 'data'),
          new Promise((resolve) => setTimeout(() => resolve(['no answer within 3 s']), 3000)),
        ])) as [Buffer | string];
        return first.toString().split('\r\n')[0]!;
      } finally {
        socket.destroy();
      }
    };
    // Under the 2 MiB limit: answered at once, not after the body arrives; over it: still no such route, not "too large".
    for (const length of [1024 * 1024, 40 * 1024 * 1024]) {
      expect(await headersOnly('/api/orc', length), `${length} bytes`).to.equal('HTTP/1.1 404 Not Found');
      expect(await headersOnly('/healthz', length), `${length} bytes`).to.equal('HTTP/1.1 405 Method Not Allowed');
    }
  });

  it('answers 413 for more line images than the server takes in one request', async () => {
    const answer = await post('/api/ocr/lines', { body: form({ image: [...lineImages, ...lineImages, ...lineImages] }) });
    expect(answer.status).to.equal(413);
    expect(answer.json.msg).to.match(/more than 4 images in one request/);
  });

  it('serves info, health, readiness, metrics, the OpenAPI document and its page', async () => {
    const info = (await (await fetch(`${base}/api/info`)).json()) as {
      code: number;
      data: { instance_id: string; limits: { max_message_bytes: number } };
    };
    expect(info.code).to.equal(0);
    expect(info.data.instance_id).to.equal(t.server.instanceId);
    expect(info.data.limits.max_message_bytes).to.equal(2 * 1024 * 1024);
    expect((await fetch(`${base}/healthz`)).status).to.equal(200);
    expect(await (await fetch(`${base}/readyz`)).json()).to.deep.equal({ status: 'ready' });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).to.match(/ocr_http_requests_total\{route="\/api\/ocr",status="200"\} [1-9]/);
    expect(metrics).to.contain('ocr_requests_total');
    const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(openapi.openapi).to.match(/^3\./);
    expect(Object.keys(openapi.paths)).to.include.members(['/api/ocr', '/api/ocr/lines', '/api/info', '/healthz', '/readyz', '/metrics']);
    const docs = await fetch(`${base}/docs/`);
    expect(docs.status).to.equal(200);
    expect(await docs.text()).to.contain('swagger');
  });

  it('takes an image part sent without a filename (curl -F "image=<file", Python requests\' files={"image": (None, data)})', async () => {
    const { body, type } = multipart([{ name: 'image', value: lineImages[0]! }]);
    const { status, json } = await post('/api/ocr', { body, headers: { 'content-type': type } });
    expect(status, json.msg).to.equal(200);
    expect(json.data.map((l) => l.text).join('')).to.contain('各区县人民政府');
  });

  it('refuses a form field cut short at its limit, naming it, rather than reading what is left of it', async () => {
    const { status, json } = await post('/api/ocr', { body: form({ image: lineImages[0]!, min_confidence: `0.${'1'.repeat(2000)}` }) });
    expect(status, json.msg).to.equal(400);
    expect(json).to.include({ code: 3, error: 'INVALID_ARGUMENT' });
    expect(json.msg).to.equal(
      "the form field 'min_confidence' is longer than 1024 bytes, this server's limit for a field: send the option's value alone",
    );
  });

  it("answers a malformed URL and a path outside the Web UI's files in the API's shape", async () => {
    const port = t.server.httpPort!;
    for (const [method, route] of [
      ['GET', '/%ZZ'],
      ['POST', '/api/ocr%ZZ'],
    ]) {
      const { status, json } = await rawRequest(port, method!, route!);
      expect(status, route).to.equal(400);
      expect(json).to.deep.equal({
        code: 3,
        msg: `the URL path ${route} is malformed: a % must begin an escape of two hex digits; send % itself as %25`,
        error: 'INVALID_ARGUMENT',
      });
    }
    const outside = await rawRequest(port, 'GET', '/../package.json');
    expect(outside.status).to.equal(404);
    expect(outside.json).to.deep.equal({
      code: 5,
      msg: 'no route GET /../package.json; the API is described at /docs and /openapi.json',
      error: 'NOT_FOUND',
    });
    expect(outside.headers['www-authenticate']).to.equal(undefined);
  });

  it('gives its answer to a malformed URL, which echoes the path, the security headers of every answer', async () => {
    const { status, headers } = await rawRequest(t.server.httpPort!, 'GET', '/%ZZ');
    expect(status).to.equal(400);
    expect(headers).to.deep.include(securityHeaders('/'));
    const docs = await rawRequest(t.server.httpPort!, 'GET', '/docs/%ZZ');
    expect(docs.headers).to.deep.include(securityHeaders('/docs/'));
  });

  it('answers 404, not 405, for a path that only a route pattern matches (GET /*)', async () => {
    const res = await fetch(`${base}/*`);
    expect(res.status).to.equal(404);
    expect(await res.json()).to.deep.equal({
      code: 5,
      msg: 'no route GET /*; the API is described at /docs and /openapi.json',
      error: 'NOT_FOUND',
    });
  });

  for (const [what, route, init, message] of [
    [
      'a JSON body that is a string',
      '/api/ocr',
      { body: JSON.stringify('iVBORw0KGgo'), headers: { 'content-type': 'application/json' } },
      'the JSON body is a string; send an object: {"image": "<base64>", "options": {...}}',
    ],
    [
      'a JSON body that is an array, on /api/ocr/lines',
      '/api/ocr/lines',
      { body: JSON.stringify(['iVBORw0KGgo']), headers: { 'content-type': 'application/json' } },
      'the JSON body is an array; send an object: {"images": ["<base64>", ...], "options": {...}}',
    ],
    [
      'an empty "images" in JSON',
      '/api/ocr/lines',
      { body: JSON.stringify({ images: [] }), headers: { 'content-type': 'application/json' } },
      'no images: "images" is empty; send each line image as a base64 string in it',
    ],
    [
      "an unknown field in JSON on /api/ocr/lines, naming that route's field",
      '/api/ocr/lines',
      { body: JSON.stringify({ images: [lineImages[0]!.toString('base64')], foo: 1 }), headers: { 'content-type': 'application/json' } },
      'unknown field foo; send "images" (base64 strings) and "options"',
    ],
    [
      '"images" beside "image" in JSON on /api/ocr, rather than reading one and ignoring the other',
      '/api/ocr',
      {
        body: JSON.stringify({ image: lineImages[0]!.toString('base64'), images: [lineImages[1]!.toString('base64')] }),
        headers: { 'content-type': 'application/json' },
      },
      'unknown field images; send "image" (base64) and "options"; "images" is /api/ocr/lines\' field, for line images: send the page in "image"',
    ],
    [
      '"image" beside "images" in JSON on /api/ocr/lines, rather than reading one and ignoring the other',
      '/api/ocr/lines',
      {
        body: JSON.stringify({ images: [lineImages[0]!.toString('base64')], image: lineImages[1]!.toString('base64') }),
        headers: { 'content-type': 'application/json' },
      },
      'unknown field image; send "images" (base64 strings) and "options"; "image" is /api/ocr\'s field, for a page: send line images in "images"',
    ],
    [
      'timeout_ms beside "image" in JSON, saying it goes in "options"',
      '/api/ocr',
      {
        body: JSON.stringify({ image: lineImages[0]!.toString('base64'), timeout_ms: 5000 }),
        headers: { 'content-type': 'application/json' },
      },
      'unknown field timeout_ms; send "image" (base64) and "options"; ' +
        'options, timeout_ms and priority go in "options": {"image": ..., "options": {"timeout_ms": ...}}',
    ],
    [
      'an image base64-encoded twice in JSON, which the server would tell to send as JSON',
      '/api/ocr',
      {
        body: JSON.stringify({ image: Buffer.from(lineImages[0]!.toString('base64')).toString('base64') }),
        headers: { 'content-type': 'application/json' },
      },
      "image is base64 twice over: decoded, it is the base64 text of a PNG image; send the file's bytes in base64 once",
    ],
    [
      'a line image base64-encoded twice in JSON, naming it',
      '/api/ocr/lines',
      {
        body: JSON.stringify({
          images: [
            lineImages[0]!.toString('base64'),
            Buffer.from(`data:image/png;base64,${lineImages[1]!.toString('base64')}`).toString('base64'),
          ],
        }),
        headers: { 'content-type': 'application/json' },
      },
      "images[1] is base64 twice over: decoded, it is the base64 text of a PNG image; send the file's bytes in base64 once",
    ],
    [
      'a web address in place of the image in JSON',
      '/api/ocr',
      { body: JSON.stringify({ image: 'https://example.com/scans/receipt.jpg' }), headers: { 'content-type': 'application/json' } },
      'image is the web address https://example.com/scans/receipt.jpg, not base64: this server fetches no image from the web: ' +
        'download the file and send its bytes in base64',
    ],
    [
      'an empty JSON body, as fetch sends one whose body was forgotten',
      '/api/ocr/lines',
      { body: '', headers: { 'content-type': 'application/json' } },
      'the JSON body is empty; send {"images": ["<base64>", ...], "options": {...}}',
    ],
    [
      'a JSON body in UTF-16, as Windows tools may write one',
      '/api/ocr',
      {
        body: Buffer.from(`\ufeff${JSON.stringify({ image: lineImages[0]!.toString('base64') })}`, 'utf16le'),
        headers: { 'content-type': 'application/json' },
      },
      'the JSON body is in UTF-16 or UTF-32; send it in UTF-8, as JSON is (RFC 8259)',
    ],
    [
      'an option that is an array in JSON',
      '/api/ocr',
      {
        body: JSON.stringify({ image: lineImages[0]!.toString('base64'), options: { max_side_len: [960] } }),
        headers: { 'content-type': 'application/json' },
      },
      'option max_side_len is [960]; send a whole number',
    ],
    [
      'an option a megabyte long in JSON: its value is not echoed whole into the answer and the log',
      '/api/ocr',
      {
        body: JSON.stringify({ image: lineImages[0]!.toString('base64'), options: { max_side_len: '9'.repeat(1_000_000) + 'x' } }),
        headers: { 'content-type': 'application/json' },
      },
      `option max_side_len is '${'9'.repeat(63)}… (1000003 characters); send a whole number`,
    ],
    [
      'a number in hexadecimal',
      '/api/ocr?max_side_len=0x400',
      { body: form({ image: lineImages[0]! }) },
      "option max_side_len is '0x400'; send a whole number",
    ],
    [
      'a number with an exponent',
      '/api/ocr?max_side_len=1e3',
      { body: form({ image: lineImages[0]! }) },
      "option max_side_len is '1e3'; send a whole number",
    ],
    [
      'a number with a space before it',
      '/api/ocr?min_confidence=%200.5',
      { body: form({ image: lineImages[0]! }) },
      "option min_confidence is ' 0.5'; send a number",
    ],
    [
      'an option both in the query and in the JSON options',
      '/api/ocr?min_confidence=0.9',
      {
        body: JSON.stringify({ image: lineImages[0]!.toString('base64'), options: { min_confidence: 0.5 } }),
        headers: { 'content-type': 'application/json' },
      },
      'option min_confidence came twice, in the query and in the JSON options; send it once',
    ],
    [
      'an option both in the query and as a form field, under its two names',
      '/api/ocr?minConfidence=0.9',
      { body: form({ image: lineImages[0]!, min_confidence: '0.5' }) },
      'option min_confidence came twice, in the query and as a form field; send it once',
    ],
    [
      'an option twice in the query',
      '/api/ocr?min_confidence=0.5&min_confidence=0.6',
      { body: form({ image: lineImages[0]! }) },
      'option min_confidence came twice in the query; send it once',
    ],
    [
      'a timeout both in the query and as a form field',
      '/api/ocr?timeout_ms=5000',
      { body: form({ image: lineImages[0]!, timeout_ms: '9000' }) },
      'timeout_ms came twice, in the query and as a form field; send it once',
    ],
    [
      'a priority both as its header and in the JSON options',
      '/api/ocr',
      {
        body: JSON.stringify({ image: lineImages[0]!.toString('base64'), options: { priority: 'batch' } }),
        headers: { 'content-type': 'application/json', 'ocr-priority': 'interactive' },
      },
      'priority came twice, as the header ocr-priority and in the JSON options; send it once',
    ],
    [
      'an unknown option that means the timeout, naming timeout_ms and priority beside the options',
      '/api/ocr?timeout=5000',
      { body: form({ image: lineImages[0]! }) },
      "unknown option 'timeout'; the options are max_side_len, min_side_len, box_threshold, unclip_ratio, use_angle_cls, auto_rotate, min_confidence, " +
        "beside the request's own timeout_ms and priority",
    ],
    [
      'a timeout in hexadecimal',
      '/api/ocr?timeout_ms=0x1000',
      { body: form({ image: lineImages[0]! }) },
      "timeout_ms is '0x1000'; send a whole number of milliseconds ≥ 1",
    ],
  ] as const) {
    it(`answers 400 for ${what}, saying what to send`, async () => {
      const { status, json } = await post(route, init as RequestInit);
      expect(status, json.msg).to.equal(400);
      expect(json).to.deep.equal({ code: 3, msg: message, error: 'INVALID_ARGUMENT' });
    });
  }

  it('refuses a form field given twice rather than dropping one', async () => {
    const body = form({ image: lineImages[0]! });
    body.append('min_confidence', 'abc');
    body.append('min_confidence', '0.5');
    const { status, json } = await post('/api/ocr', { body });
    expect(status, json.msg).to.equal(400);
    expect(json).to.deep.equal({ code: 3, msg: "the form field 'min_confidence' came twice; send it once", error: 'INVALID_ARGUMENT' });
  });

  it("takes booleans in any case, as Python's requests sends True", async () => {
    const { status, json } = await post('/api/ocr/lines?use_angle_cls=True', {
      body: form({ image: lineImages[0]!, auto_rotate: 'FALSE' }),
    });
    expect(status, json.msg).to.equal(200);
  });

  it('takes the numbers 1 and 0 for booleans in JSON options, as it takes "1" and "0"', async () => {
    const { status, json } = await post('/api/ocr/lines', {
      body: JSON.stringify({ images: [lineImages[0]!.toString('base64')], options: { use_angle_cls: 1, auto_rotate: 0 } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(status, json.msg).to.equal(200);
    expect(json.data[0]!.text).to.contain('各区县人民政府');
  });

  it('answers with the x-request-id it was sent, or one it made, as its logs name the request', async () => {
    const given = await fetch(`${base}/api/nothing`, { headers: { 'x-request-id': 'trace-42' } });
    expect(given.headers.get('x-request-id')).to.equal('trace-42');
    const made = await post('/api/ocr/lines', { body: form({ image: lineImages[0]! }) });
    expect(made.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
  });

  /** A request that asks before it sends its body (Expect: 100-continue, as curl does past 1 MB): whether it was told to go on, and its answer. */
  const askFirst = (
    body: Buffer,
    type: string,
    declared = body.length,
    route = '/api/ocr',
  ): Promise<{ continued: boolean; status: number }> =>
    new Promise((resolve, reject) => {
      let continued = false;
      const request = http.request(
        {
          host: '127.0.0.1',
          port: t.server.httpPort!,
          method: 'POST',
          path: route,
          headers: { 'content-type': type, 'content-length': declared, expect: '100-continue' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ continued, status: res.statusCode! }));
        },
      );
      request.on('continue', () => {
        continued = true;
        request.end(body);
      });
      request.on('error', reject);
      request.flushHeaders();
    });

  it('tells a client that asks first to send its body only when the body will be read', async () => {
    expect(await askFirst(doc, 'image/jpeg')).to.deep.equal({ continued: true, status: 200 });
    const { body, type } = multipart([{ name: 'image', value: doc, filename: 'doc.jpg' }]);
    expect(await askFirst(body, type)).to.deep.equal({ continued: true, status: 200 });
    // Over the limit from its declared length: refused without a byte of it sent, not after "go on".
    expect(await askFirst(Buffer.alloc(0), 'image/jpeg', 2 * 1024 * 1024 + 1)).to.deep.equal({ continued: false, status: 413 });
    expect(await askFirst(Buffer.alloc(0), type, 3 * 1024 * 1024)).to.deep.equal({ continued: false, status: 413 });
  });

  it('refuses a body type it does not read from its headers, not after telling a client that asks first to send it', async () => {
    expect(await askFirst(Buffer.alloc(0), 'text/plain', 1024 * 1024)).to.deep.equal({ continued: false, status: 415 });
    expect(await askFirst(Buffer.alloc(0), 'application/pdf; charset=binary', 1024 * 1024)).to.deep.equal({
      continued: false,
      status: 415,
    });
  });

  it('refuses a timeout or priority header sent twice as given twice, not as the malformed value Node joins them into', async () => {
    for (const [header, name, values] of [
      ['ocr-timeout-ms', 'timeout_ms', ['5000', '9000']],
      ['ocr-priority', 'priority', ['batch', 'batch']],
    ] as const) {
      const { status, json } = await rawRequest(t.server.httpPort!, 'POST', '/api/ocr', { [header]: [...values] });
      expect(status).to.equal(400);
      expect(json).to.deep.equal({ code: 3, msg: `${name} came twice as the header ${header}; send it once`, error: 'INVALID_ARGUMENT' });
    }
  });

  it('refuses a malformed option or timeout in the query from its headers, not after telling a client that asks first to send its body', async () => {
    for (const route of ['/api/ocr?max_side_len=abc', '/api/ocr/lines?max_side=960', '/api/ocr?timeout_ms=soon']) {
      expect(await askFirst(Buffer.alloc(0), 'image/jpeg', 1024 * 1024, route), route).to.deep.equal({ continued: false, status: 400 });
    }
  });

  it('refuses for load with 429 and Retry-After, as gRPC refuses with RESOURCE_EXHAUSTED, in HTTP terms', async () => {
    const busy = await startTestServer({ httpPort: 0, engine: { maxWaitMs: 1 } });
    try {
      // A timeout far longer than the server lets a call wait: the wait, not the timeout, refuses it, and
      // the refusal says so (a refusal that the timeout bounds: test/unit/http-failure.test.ts).
      const url = `http://127.0.0.1:${busy.server.httpPort!}/api/ocr?timeout_ms=60000`;
      const started = performance.now();
      const answers = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const res = await fetch(url, { method: 'POST', body: form({ image: doc }) });
          return { res, ms: performance.now() - started };
        }),
      );
      const refused = answers.filter((a) => a.res.status === 429);
      expect(refused.length, 'some of six calls at once refused by a server that lets no call wait').to.be.above(0);
      // Held a second, Retry-After's unit, which it then counts from (src/http/refusal-hold.ts).
      expect(refused[0]!.ms).to.be.at.least(950);
      expect(refused[0]!.res.headers.get('retry-after')).to.match(/^\d+$/);
      const json = (await refused[0]!.res.json()) as Answer;
      expect(json).to.include({ code: 8, error: 'RESOURCE_EXHAUSTED' });
      expect(json.msg).to.match(/^server busy: .* would not fit in this server's longest wait of 1 ms \(its --max-wait-ms\); /);
      expect(json.msg).to.contain(RETRY_AFTER);
      expect(json.msg).to.not.match(/deadline|retry in \d+ ms/);
    } finally {
      await busy.stop();
    }
  });
});

interface DocHeader {
  required?: boolean;
}
interface DocOperation {
  security?: Record<string, string[]>[];
  responses: Record<string, { headers?: Record<string, DocHeader> }>;
}
interface Doc {
  components: { securitySchemes: Record<string, Record<string, string>> };
  security: Record<string, string[]>[];
  paths: Record<string, Record<string, DocOperation>>;
}

/**
 * /openapi.json's security and response headers against what the server does, with tokens and
 * without: which routes want a token, and the headers each answer carries.
 */
describe("/openapi.json's tokens and headers, as servers answer", function () {
  this.timeout(60_000);
  const KEY = 'openapi-test-key';
  let dir: string;
  let access: AccessControl;
  const apps: { port: number; close: () => Promise<void> }[] = [];
  /** The app without tokens, and the one with them (a reader's key, quota 1 a second). */
  let open: number;
  let guarded: number;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-openapi-'));
    const apiKeysFile = path.join(dir, 'keys.json');
    writeFileSync(
      apiKeysFile,
      JSON.stringify([{ name: 'reader', hash: hashApiKey(KEY), scopes: ['ocr:read'], quota: { rps: 1, burst: 1 } }]),
    );
    access = new AccessControl({ auth: { apiKeysFile } });
    // Served as an instance serves them; a request over lines fails as a gateway that reaches no instance.
    const backend = {
      recognize: async () => RecognizeResponse.fromPartial({}),
      recognizeLines: () => Promise.reject(new HttpError(503, 'UNAVAILABLE', NO_INSTANCE_REACHED, 5000)),
      serverInfo: async () => ServerInfo.fromPartial({}),
      metrics: async () => ({ contentType: 'text/plain', text: '' }),
    };
    apps.push(await listenHttpApp(backend, { holdRefusals: false }), await listenHttpApp(backend, { access, holdRefusals: false }));
    [open, guarded] = apps.map((a) => a.port) as [number, number];
  });
  after(async () => {
    for (const a of apps) await a.close();
    access?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ask = (port: number, method: string, route: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`http://127.0.0.1:${port}${route}`, {
      method,
      headers: { ...headers, ...(method === 'POST' ? { 'content-type': 'image/png' } : {}) },
      ...(method === 'POST' ? { body: lineImages[0] } : {}),
    });
  /** That `res` carries the headers `doc` lists for its status: those required always, and no other of those the server sends. */
  const carries = (res: Response, operation: DocOperation, what: string): void => {
    const declared = operation.responses[String(res.status)] ?? operation.responses.default;
    expect(declared, `${what}: ${res.status} documented`).to.not.equal(undefined);
    const listed = Object.fromEntries(Object.entries(declared!.headers ?? {}).map(([name, h]) => [name.toLowerCase(), h]));
    for (const [name, header] of Object.entries(listed)) {
      if (header.required) expect(res.headers.get(name), `${what} ${res.status}: ${name}`).to.not.equal(null);
    }
    for (const name of ['x-request-id', 'retry-after', 'www-authenticate', 'allow']) {
      if (res.headers.get(name) !== null) expect(listed, `${what} ${res.status} sends ${name}`).to.have.property(name);
    }
  };

  it('says tokens are optional or bearer, asked where the server asks them, and lists the headers of each answer', async () => {
    const doc = (await (await fetch(`http://127.0.0.1:${open}/openapi.json`)).json()) as Doc;
    expect(doc.components.securitySchemes.bearer).to.deep.include({ type: 'http', scheme: 'bearer' });
    // OpenAPI 3's "either": no token, or a bearer one.
    expect(doc.security).to.deep.equal([{}, { bearer: [] }]);
    for (const [route, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const what = `${method.toUpperCase()} ${route}`;
        const security = operation.security ?? doc.security;
        const without = await ask(guarded, method.toUpperCase(), route);
        carries(without, operation, `${what} without a token`);
        if (security.some((s) => 'bearer' in s)) {
          expect(without.status, what).to.equal(401);
          expect(without.headers.get('www-authenticate'), what).to.match(/^Bearer /);
        } else expect(without.status, what).to.not.be.oneOf([401, 403]);
        // A server without tokens lets the request in: what `{}` says.
        const anyone = await ask(open, method.toUpperCase(), route);
        expect(anyone.status, `${what} on a server without tokens`).to.not.be.oneOf([401, 403]);
        carries(anyone, operation, `${what} on a server without tokens`);
      }
    }
    const paths = doc.paths;
    // 403 (a reader's key on /metrics), 429 (over its quota), 503 with Retry-After (no instance), 405.
    const bearer = { authorization: `Bearer ${KEY}` };
    const unscoped = await ask(guarded, 'GET', '/metrics', bearer);
    expect(unscoped.status).to.equal(403);
    carries(unscoped, paths['/metrics']!.get!, 'GET /metrics by a reader');
    const refused = await ask(guarded, 'GET', '/api/info', bearer).then(() => ask(guarded, 'GET', '/api/info', bearer));
    expect(refused.status).to.equal(429);
    carries(refused, paths['/api/info']!.get!, 'GET /api/info over quota');
    const unavailable = await ask(open, 'POST', '/api/ocr/lines');
    expect([unavailable.status, unavailable.headers.get('retry-after')]).to.deep.equal([503, '5']);
    carries(unavailable, paths['/api/ocr/lines']!.post!, 'POST /api/ocr/lines with no instance');
    const wrongMethod = await ask(open, 'GET', '/api/ocr');
    expect(wrongMethod.status).to.equal(405);
    carries(wrongMethod, paths['/api/ocr']!.post!, 'GET /api/ocr');
  });
});

describe('HTTP API metrics', () => {
  it('counts a request whose client left before its answer, as 499 with its time, as gRPC counts CANCELLED', async () => {
    const registry = new Registry();
    const lines: { msg: string; status: number; requestId: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as never) });
    let started!: () => void;
    const working = new Promise<void>((resolve) => (started = resolve));
    // Work that ends only when its caller leaves.
    const app = await listenHttpApp(
      {
        recognize: (_image, _options, call) =>
          new Promise<RecognizeResponse>((_resolve, reject) => {
            started();
            call.signal.addEventListener('abort', () => reject(new OcrError('CANCELLED', 'the client left')));
          }),
      },
      { metrics: new HttpMetrics(registry), logger },
    );
    try {
      const leaving = new AbortController();
      const request = fetch(`http://127.0.0.1:${app.port}/api/ocr`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: lineImages[0],
        signal: leaving.signal,
      }).catch(() => undefined);
      await working;
      leaving.abort();
      await request;
      const counted = async (): Promise<string> =>
        (await registry.metrics())
          .split('\n')
          .filter((l) => l.includes('"/api/ocr"'))
          .join('\n');
      await waitFor(async () => /status="499"\} 1/.test(await counted()), 5000, 'the request counted');
      // Timed until its client left, with the requests not answered, apart from the answered ones.
      expect(await counted()).to.match(/ocr_http_request_error_duration_seconds_count\{route="\/api\/ocr",status="499"\} 1/);
      // Logged as over gRPC: nothing was refused, the client went away first.
      await waitFor(() => lines.length > 0, 5000, 'the line');
      expect(lines.map((l) => [l.msg, l.status])).to.deep.equal([['ended after the caller left', 499]]);
      expect(lines[0]!.requestId).to.be.a('string');
    } finally {
      await app.close();
    }
  });
});
