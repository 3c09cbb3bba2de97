import { expect } from 'chai';
import { once } from 'node:events';
import http2 from 'node:http2';
import { setTimeout as delay } from 'node:timers/promises';
import { OCR_SERVICE } from '../../src/shared/service-name.js';
import { freePort, withTakenPort } from '../../src/dev/free-port.js';
import { runCli, spawnServer } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { logLines } from '../support/log-lines.js';
import { textImage } from '../support/images.js';
import { metricSample } from '../../src/dev/metric-sample.js';
import * as grpc from '@grpc/grpc-js';
import { OcrClient } from '../../src/client/index.js';

const MB = 1024 * 1024;

/** `ocr serve --metrics-port`: the Prometheus endpoint is bound before the server says it listens. */
describe('ocr serve --metrics-port', function () {
  this.timeout(120_000);

  it("serves /metrics once the listening line is out, with a scrape config's params, to GET and HEAD only", async () => {
    const metricsPort = await freePort();
    const server = await spawnServer(['--metrics-port', String(metricsPort)]);
    try {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).to.equal(200);
      expect(await res.text()).to.contain('# TYPE');
      // A scrape config's `params:` come as a query string; HEAD is a GET without the body.
      const withParams = await fetch(`http://127.0.0.1:${metricsPort}/metrics?module=ocr&name[]=ocr_requests_total`);
      expect(withParams.status).to.equal(200);
      expect(await withParams.text()).to.contain('# TYPE');
      const head = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'HEAD' });
      expect([head.status, head.headers.get('content-type'), await head.text()]).to.deep.equal([200, res.headers.get('content-type'), '']);
      const post = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST', body: 'x' });
      expect([post.status, post.headers.get('allow')]).to.deep.equal([405, 'GET, HEAD']);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).to.equal(404);
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('says in its start line what it serves with: its ports, limits, memory budget and cache', async () => {
    const metricsPort = await freePort();
    const server = await spawnServer([
      '--metrics-port',
      String(metricsPort),
      '--memory-budget-mb',
      '600',
      '--max-message-mb',
      '8',
      '--cache',
      'memory',
      '--cache-max-mb',
      '16',
      '--log-level',
      'info',
    ]);
    try {
      const servingLine = (): Record<string, unknown> | undefined =>
        logLines<Record<string, unknown>>(server.stderr()).find((l) => l.msg === 'serving');
      // stderr and stdout are two pipes: the line may come in after the listening line.
      await waitFor(() => servingLine() !== undefined, 5000, 'the serving line');
      const serving = servingLine();
      expect(serving).to.deep.include({ port: server.port, httpPort: server.httpPort, metricsPort });
      expect(serving!.limits).to.deep.include({ maxMessageBytes: 8 * 2 ** 20, memoryBudgetBytes: 600 * 2 ** 20, maxWaitMs: 30_000 });
      expect(serving!.cache).to.deep.include({ backend: 'memory', maxBytes: 16 * 2 ** 20 });
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('stops the start on a port in use: a message naming the port and the flag, exit 1, never serving', async () => {
    await withTakenPort(async (port) => {
      const r = await runCli([
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--http-port',
        '0',
        '--metrics-port',
        String(port),
        '--log-level',
        'info',
      ]);
      expect(r.code).to.equal(1);
      expect(r.stdout).not.to.contain('listening');
      expect(r.stderr).to.contain(
        `ocr: cannot serve metrics on 127.0.0.1:${port}: the port is in use; choose another port with --metrics-port`,
      );
      // Bound before the instance turns SERVING: it never served a call it then dropped, nor logged that it serves.
      expect(r.stderr).not.to.match(/"msg":"serving"/);
      expect(r.stderr).not.to.match(/"msg":"draining"/);
    });
  });
  it('times a call answered OK from the arrival of its stream, the upload of its request included', async () => {
    const metricsPort = await freePort();
    const server = await spawnServer(['--metrics-port', String(metricsPort)]);
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    try {
      const stream = session.request(
        { ':method': 'POST', ':path': `/${OCR_SERVICE}/GetServerInfo`, 'content-type': 'application/grpc', te: 'trailers' },
        { endStream: false },
      );
      stream.resume();
      // The request's headers now, its one (empty) message 300 ms later: a slow upload.
      await delay(300);
      stream.end(Buffer.alloc(5));
      const [trailers] = (await once(stream, 'trailers')) as [http2.IncomingHttpHeaders];
      expect(trailers['grpc-status']).to.equal('0');
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const sum = /^ocr_request_duration_seconds_sum\{method="GetServerInfo"\} (\S+)$/m.exec(text);
      expect(Number(sum?.[1])).to.be.at.least(0.25);
    } finally {
      session.destroy();
      server.child.kill('SIGKILL');
    }
  });

  it("times each stage of a page, the angle classifier's votes on its orientation among them", async () => {
    const server = await spawnServer(['--workers', '1']);
    try {
      const res = await fetch(`http://127.0.0.1:${server.httpPort!}/api/ocr`, {
        method: 'POST',
        body: new Uint8Array(await textImage('Every stage is timed')),
        headers: { 'content-type': 'image/png' },
      });
      const { timings } = (await res.json()) as { timings: { classify_ms: number } };
      expect(timings.classify_ms).to.be.above(0);
      for (const stage of ['queue', 'decode', 'detect', 'classify', 'recognize']) {
        expect(await metricSample(server.httpPort!, `ocr_stage_duration_seconds_count{stage="${stage}"}`), stage).to.equal(1);
      }
      const classified = await metricSample(server.httpPort!, 'ocr_stage_duration_seconds_sum{stage="classify"}');
      expect(classified).to.be.closeTo(timings.classify_ms / 1000, 0.001);
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('times answered HTTP requests apart from refusals, by route and status as gRPC does, in buckets that resolve 1 to 2.5 s', async () => {
    const server = await spawnServer(['--workers', '1']);
    const client = new OcrClient(`127.0.0.1:${server.port}`);
    try {
      const ocr = (body: Uint8Array): Promise<Response> =>
        fetch(`http://127.0.0.1:${server.httpPort!}/api/ocr`, { method: 'POST', body, headers: { 'content-type': 'image/png' } });
      const image = new Uint8Array(await textImage('Answered calls are timed'));
      expect((await ocr(image.subarray(0, 100))).status).to.equal(400); // a truncated PNG
      expect((await ocr(image)).status).to.equal(200);
      await client.recognize(image);
      const sample = (name: string): Promise<number> => metricSample(server.httpPort!, name);
      // The refusal, answered in milliseconds, would drag the answered calls' quantiles down.
      expect(await sample('ocr_http_request_duration_seconds_count{route="/api/ocr"}')).to.equal(1);
      expect(await sample('ocr_http_request_error_duration_seconds_count{route="/api/ocr",status="400"}')).to.equal(1);
      // A page takes 0.4 to 2 s: a bucket at 2 s between 1 and 2.5, on both doors alike.
      expect(await sample('ocr_http_request_duration_seconds_bucket{le="2",route="/api/ocr"}')).to.equal(1);
      expect(await sample('ocr_request_duration_seconds_bucket{le="2",method="Recognize"}')).to.equal(1);
    } finally {
      client.close();
      server.child.kill('SIGKILL');
    }
  });

  it('counts once each call that ends while its request is still coming: its client gone, its deadline passed, its request ended short', async () => {
    const server = await spawnServer(['--workers', '1']);
    const count = (code: string): Promise<number> =>
      metricSample(server.httpPort!, `ocr_requests_total{method="Recognize",code="${code}"}`, 0);
    /** A Recognize call whose message says 1 MB and whose first kilobyte only is sent. */
    const partialCall = (session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders = {}): http2.ClientHttp2Stream => {
      const stream = session.request({
        ':method': 'POST',
        ':path': `/${OCR_SERVICE}/Recognize`,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...headers,
      });
      stream.on('error', () => undefined);
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(MB, 1);
      stream.write(Buffer.concat([prefix, Buffer.alloc(1024)]));
      return stream;
    };
    const statusOf = async (stream: http2.ClientHttp2Stream): Promise<string> => {
      const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
      return String(headers['grpc-status']);
    };
    try {
      // Its connection dropped once the server reads its request, as by a client that crashed.
      const dropped = http2.connect(`http://127.0.0.1:${server.port}`);
      dropped.on('error', () => undefined);
      partialCall(dropped);
      await waitFor(async () => (await metricSample(server.httpPort!, 'ocr_upload_bytes_held')) > 0, 10_000, 'the upload to be read');
      dropped.destroy();
      await waitFor(async () => (await count('CANCELLED')) === 1, 10_000, 'the dropped call to be counted');

      const session = http2.connect(`http://127.0.0.1:${server.port}`);
      try {
        // Its deadline passes mid-upload: grpc-js answers it itself.
        expect(await statusOf(partialCall(session, { 'grpc-timeout': '300m' }))).to.equal(String(grpc.status.DEADLINE_EXCEEDED));
        await waitFor(async () => (await count('DEADLINE_EXCEEDED')) === 1, 10_000, 'the call past its deadline to be counted');
        // Its request ends before its message: grpc-js answers it itself too.
        const short = partialCall(session);
        short.end();
        expect(await statusOf(short)).to.equal(String(grpc.status.UNIMPLEMENTED));
        await waitFor(async () => (await count('UNIMPLEMENTED')) === 1, 10_000, 'the call ended short to be counted');
      } finally {
        session.destroy();
      }
      const text = await (await fetch(`http://127.0.0.1:${server.httpPort!}/metrics`)).text();
      const series = text.split('\n').filter((l) => l.startsWith('ocr_requests_total{method="Recognize"'));
      expect(series.map((l) => l.replace(/^ocr_requests_total\{method="Recognize",code="(\w+)"\} /, '$1 ')).sort()).to.deep.equal([
        'CANCELLED 1',
        'DEADLINE_EXCEEDED 1',
        'UNIMPLEMENTED 1',
      ]);
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
