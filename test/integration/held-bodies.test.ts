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
      while (answers.length < 2) await new Promise((resolve) => setImmediate(resolve));

      // Two images held: the next request is refused before its body (1 KiB of 1.5 MiB sent), its connection closed.
      const socket = net.connect(app.port, '127.0.0.1');
      let raw = '';
      socket.on('data', (d: Buffer) => (raw += d.toString()));
      socket.write(`POST /api/ocr HTTP/1.1\r\nHost: gw\r\nContent-Type: image/png\r\nContent-Length: ${image.length}\r\n\r\n`);
      socket.write(image.subarray(0, 1024));
      await once(socket, 'close');
      expect(raw).to.match(/^HTTP\/1\.1 429 /);
      expect(raw).to.match(/\r\nconnection: close\r\n/i);
      expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).to.include({ code: 8, error: 'RESOURCE_EXHAUSTED' });
      expect(raw).to.contain('this gateway holds 3 MiB of requests waiting for its cluster');

      answers.splice(0).forEach((answer) => answer());
      expect((await Promise.all(held)).map((r) => r.status)).to.deep.equal([200, 200]);
      const next = post();
      while (answers.length < 1) await new Promise((resolve) => setImmediate(resolve));
      answers.splice(0).forEach((answer) => answer());
      expect((await next).status).to.equal(200);
    } finally {
      await app.close();
    }
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
