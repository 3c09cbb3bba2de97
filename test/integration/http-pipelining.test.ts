import { expect } from 'chai';
import { once } from 'node:events';
import net from 'node:net';
import { Registry } from 'prom-client';
import { waitFor } from '../../src/dev/wait-for.js';
import { ServerInfo } from '../../src/gen/ocr/v1/ocr.js';
import { HttpMetrics } from '../../src/http/http-metrics.js';
import { MAX_OPEN_REQUESTS, MAX_WAITING_REQUESTS } from '../../src/http/pipelined-requests.js';
import { listenHttpApp, type TestHttpApp } from '../support/http-app.js';

const INFO = 'GET /api/info HTTP/1.1\r\nHost: ocr\r\n\r\n';

describe('HTTP/1.1 pipelining', function () {
  this.timeout(60_000);
  let app: TestHttpApp;
  /** Requests that reached the route: the app's work for them done. */
  let asked = 0;
  beforeEach(async () => {
    asked = 0;
    app = await listenHttpApp({
      serverInfo: async () => {
        asked++;
        return ServerInfo.fromPartial({ instanceId: 'pipelined' });
      },
    });
  });
  afterEach(() => app.close());

  it('runs a few requests of a connection at a time, and closes one that has sent far more than it was answered', async () => {
    // 2,000 requests in 70 KB, one read's worth: each was run at once, and its answer kept for a client that reads none.
    const socket = net.connect(app.port, '127.0.0.1');
    socket.resume();
    socket.on('error', () => {});
    let closed = false;
    const close = new Promise((resolve) => socket.once('close', resolve)).then(() => (closed = true));
    socket.write(INFO.repeat(2000));
    await Promise.race([close, waitFor(() => asked > MAX_OPEN_REQUESTS + MAX_WAITING_REQUESTS, 30_000, 'requests run')]);
    expect(closed, `${asked} requests run, the connection still open`).to.equal(true);
    // Those started before the waiting ones overflowed: a few more than MAX_OPEN_REQUESTS where answers went out between two reads.
    expect(asked).to.be.at.most(MAX_OPEN_REQUESTS + MAX_WAITING_REQUESTS);
    // Another caller is answered.
    const answer = await fetch(`http://127.0.0.1:${app.port}/api/info`);
    expect(answer.status).to.equal(200);
  });

  it('runs none of the requests a client left waiting when it goes away', async () => {
    // Those it runs are never answered: the client leaves with all of its requests unanswered.
    await app.close();
    const registry = new Registry();
    app = await listenHttpApp(
      {
        serverInfo: () => {
          asked++;
          return new Promise<never>(() => {});
        },
      },
      { metrics: new HttpMetrics(registry) },
    );
    const socket = net.connect(app.port, '127.0.0.1');
    socket.write(INFO.repeat(MAX_OPEN_REQUESTS + 20));
    await waitFor(() => asked === MAX_OPEN_REQUESTS, 30_000, 'the first requests run');
    socket.destroy();
    const left = async (): Promise<number> =>
      (await registry.getSingleMetric('ocr_http_requests_total')!.get()).values.find((v) => v.labels.status === '499')?.value ?? 0;
    // Node ends the request it was answering as its client leaves (the others queued behind it end unseen).
    await waitFor(async () => (await left()) >= 1, 30_000, 'the request being answered to end as its client left');
    // A request of another client, answered after that end was handled: any left waiting would have run by then.
    expect((await fetch(`http://127.0.0.1:${app.port}/healthz`)).status).to.equal(200);
    expect(asked).to.equal(MAX_OPEN_REQUESTS);
  });

  it('answers every request of a client that pipelines a hundred and reads, in order, on the one connection', async () => {
    const socket = net.connect(app.port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.write(INFO.repeat(99) + INFO.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    await once(socket, 'close');
    expect(text.match(/HTTP\/1\.1 200 OK\r\n/g)).to.have.length(100);
    expect(asked).to.equal(100);
  });
});
