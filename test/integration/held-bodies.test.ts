import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { HeldBodies } from '../../src/http/held-bodies.js';
import { UploadGate } from '../../src/server/upload-gate.js';
import { RecognizeResponse } from '../../src/gen/ocr/v1/ocr.js';
import { Registry } from 'prom-client';
import type { OcrClient } from '../../src/client/index.js';
import { clusterBackend } from '../../src/http/cluster-backend.js';
import { listenHttpApp } from '../support/http-app.js';

const MB = 1024 * 1024;
/** A PNG padded to 1.5 MiB: the backend here never decodes it. */
const image = Buffer.concat([readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png')), Buffer.alloc(1.5 * MB)]);

/** Resolves once `done()` holds, looked at after each turn of the event loop. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setImmediate(resolve));
}

/** A POST /api/ocr of an image declared `length` bytes long, its headers sent and its body left to the caller; what comes back accumulates in `text`. */
function rawPost(port: number, length: number): { socket: net.Socket; text: string } {
  const socket = net.connect(port, '127.0.0.1');
  const state = { socket, text: '' };
  socket.on('data', (d: Buffer) => (state.text += d.toString()));
  socket.write(`POST /api/ocr HTTP/1.1\r\nHost: gw\r\nContent-Type: image/png\r\nContent-Length: ${length}\r\n\r\n`);
  return state;
}

describe("a gateway's bound on the bodies it holds for its cluster", function () {
  // Without the bound, the third request waits for a body that never comes and the test fails on this timeout.
  this.timeout(10_000);

  it('refuses a request from its headers while the bodies read and not yet answered fill the bound, and lets the next in once they are answered', async () => {
    const answers: (() => void)[] = [];
    const app = await listenHttpApp(
      // The cluster answers when the test says so.
      { recognize: () => new Promise((resolve) => answers.push(() => resolve(RecognizeResponse.fromPartial({})))) },
      {
        uploads: new UploadGate({ heldBytes: 2 * image.length }),
        // Room for two of the images.
        heldBodies: new HeldBodies(2 * image.length),
      },
    );
    try {
      const url = `http://127.0.0.1:${app.port}/api/ocr`;
      const post = (): Promise<Response> => fetch(url, { method: 'POST', headers: { 'content-type': 'image/png' }, body: image });
      const held = [post(), post()];
      await until(() => answers.length === 2);

      // Two images held: the next request is refused before its body (1 KiB of 1.5 MiB sent), its connection closed.
      const refused = rawPost(app.port, image.length);
      refused.socket.write(image.subarray(0, 1024));
      await once(refused.socket, 'close');
      const raw = refused.text;
      expect(raw).to.match(/^HTTP\/1\.1 429 /);
      expect(raw).to.match(/\r\nconnection: close\r\n/i);
      expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).to.include({ code: 8, error: 'RESOURCE_EXHAUSTED' });
      expect(raw).to.contain('this gateway holds 3 MiB of requests waiting for its cluster');

      answers.splice(0).forEach((answer) => answer());
      expect((await Promise.all(held)).map((r) => r.status)).to.deep.equal([200, 200]);
      const next = post();
      await until(() => answers.length === 1);
      answers.splice(0).forEach((answer) => answer());
      expect((await next).status).to.equal(200);
    } finally {
      await app.close();
    }
  });

  it('refuses from its headers a request whose declared length would not fit beside the bodies it holds, without reading its body', async () => {
    const answers: (() => void)[] = [];
    const app = await listenHttpApp(
      { recognize: () => new Promise((resolve) => answers.push(() => resolve(RecognizeResponse.fromPartial({})))) },
      { uploads: new UploadGate({ heldBytes: 2 * image.length }), heldBodies: new HeldBodies(2 * image.length) },
    );
    try {
      const url = `http://127.0.0.1:${app.port}/api/ocr`;
      const held = fetch(url, { method: 'POST', headers: { 'content-type': 'image/png' }, body: image });
      await until(() => answers.length === 1);

      // One image held, room for one more: a body declared twice as long would not fit, and is not read.
      const refused = rawPost(app.port, 2 * image.length);
      refused.socket.write(image.subarray(0, 1024));
      await once(refused.socket, 'close');
      expect(refused.text).to.match(/^HTTP\/1\.1 429 /);
      expect(refused.text).to.contain('this gateway holds 2 MiB of requests waiting for its cluster');

      // One as long as the room left is read and answered.
      const fits = fetch(url, { method: 'POST', headers: { 'content-type': 'image/png' }, body: image });
      await until(() => answers.length === 2);
      answers.splice(0).forEach((answer) => answer());
      expect((await Promise.all([held, fits])).map((r) => r.status)).to.deep.equal([200, 200]);
    } finally {
      await app.close();
    }
  });

  it('weighs a request again at its upload turn: one that waited while others filled the bound is refused, its body unread', async () => {
    const answers: (() => void)[] = [];
    // The gate squeezes once uploads in progress hold 1 KiB: no upload starts until they end.
    const uploads = new UploadGate({ heldBytes: 1024, squeezedIdleMs: 60_000 });
    const app = await listenHttpApp(
      { recognize: () => new Promise((resolve) => answers.push(() => resolve(RecognizeResponse.fromPartial({})))) },
      { uploads, heldBodies: new HeldBodies(2 * image.length) },
    );
    try {
      // Two uploads in progress hold 2.5 KiB: the gate squeezes, and a third waits for them.
      const first = rawPost(app.port, image.length);
      first.socket.write(image.subarray(0, 512));
      const second = rawPost(app.port, image.length);
      second.socket.write(image.subarray(0, 2048));
      await until(() => uploads.squeezed);
      // Room for it on arrival (nothing held), so it waits for its turn.
      const waiting = rawPost(app.port, Math.round(1.5 * image.length));
      await once(waiting.socket, 'connect');
      await until(() => uploads.count(`http:127.0.0.1:${waiting.socket.localPort}`).waiting === 1);
      // The first body read whole and held for the cluster, the gate still squeezed by the second.
      first.socket.write(image.subarray(512));
      await until(() => answers.length === 1);
      // The second ends too: the waiting request's turn comes, and 1.5 images no longer fit beside the first.
      second.socket.write(image.subarray(2048));
      await once(waiting.socket, 'close');
      expect(waiting.text).to.match(/^HTTP\/1\.1 429 /);
      expect(waiting.text).to.match(/this gateway holds [23] MiB of requests waiting for its cluster/);
      await until(() => answers.length === 2);
      answers.splice(0).forEach((answer) => answer());
      await Promise.all([once(first.socket, 'data'), once(second.socket, 'data')]);
      expect([first.text, second.text].map((t) => t.slice(0, 12))).to.deep.equal(['HTTP/1.1 200', 'HTTP/1.1 200']);
      first.socket.destroy();
      second.socket.destroy();
    } finally {
      await app.close();
    }
  });

  it('weighs a declared length against the room left, a length over the bound as the bound itself', () => {
    const bodies = new HeldBodies(100);
    expect(bodies.refusalBeforeBody(0)).to.equal(null);
    expect(bodies.refusalBeforeBody(1000), 'alone, as hold() takes it').to.equal(null);
    const held = bodies.hold(60);
    expect(bodies.refusalBeforeBody(40)).to.equal(null);
    expect(bodies.refusalBeforeBody(41)?.code).to.equal('RESOURCE_EXHAUSTED');
    expect(bodies.refusalBeforeBody(1000)?.code).to.equal('RESOURCE_EXHAUSTED');
    bodies.hold(40);
    expect(bodies.refusalBeforeBody(0)?.code, 'full: even a body of unknown length').to.equal('RESOURCE_EXHAUSTED');
    held.release();
    expect(bodies.refusalBeforeBody(60)).to.equal(null);
  });

  it('reports its bound and what it holds, and the calls it has open to its cluster, for a saturation ratio', async () => {
    const registry = new Registry();
    new HeldBodies(96 * MB, registry);
    let answer!: (value: unknown) => void;
    const client = { getServerInfo: () => new Promise((resolve) => (answer = resolve)) } as unknown as OcrClient;
    const backend = clusterBackend(client, { deadlineMs: 30_000 });
    const call = { signal: new AbortController().signal, priority: 'interactive', requestId: 'r', what: 'GET /api/info' } as const;
    const open = backend.serverInfo(call);
    const read = async (r: Registry, name: string): Promise<number> => (await r.getSingleMetric(name)!.get()).values[0]!.value;
    expect(await read(registry, 'ocr_gateway_body_limit_bytes')).to.equal(96 * MB);
    expect(await read(registry, 'ocr_gateway_body_bytes_held')).to.equal(0);
    expect(await read(backend.registry, 'ocr_gateway_calls_in_flight')).to.equal(1);
    answer({});
    await open;
    expect(await read(backend.registry, 'ocr_gateway_calls_in_flight')).to.equal(0);
  });
});
