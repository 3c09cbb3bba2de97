import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { Admission, type CallCost } from '../../src/engine/admission/admission.js';
import { MemoryBudget } from '../../src/engine/admission/memory-budget.js';
import { earlyRefusal } from '../../src/server/early-refusal.js';
import { DEFAULT_RECEIVE_WINDOW, withReceiveWindow } from '../../src/server/http2-receive-window.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { OCR_SERVICE } from '../../src/shared/service-name.js';

const MB = 1024 * 1024;
const identity = (b: Buffer): Buffer => b;
const RECOGNIZE = `/${OCR_SERVICE}/Recognize`;
/** Recognize's path with raw bytes in and out: what matters here is what happens to a request's upload. */
const service: grpc.ServiceDefinition = {
  Recognize: {
    path: RECOGNIZE,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

describe('refusal before the request', function () {
  // Without the reset, the stream never closes and the test fails on this timeout.
  this.timeout(10_000);

  it('resets a call refused from its headers (NO_ERROR, after the status) so that the client stops sending its request', async () => {
    const admission = new Admission(new MemoryBudget(100 * MB), { workers: 1, maxWaitMs: 30_000, deadlineShare: 0.8 });
    // A call that stays admitted: a minute of estimated work ahead of every new one.
    const page: CallCost = { bytes: MB, encodedBytes: 0, kind: 'page', units: 40, what: 'a page' };
    let finish!: () => void;
    const held = admission.run(page, {}, () => new Promise<void>((resolve) => (finish = resolve)));
    const metrics = new ServerMetrics({
      inFlight: () => admission.inFlight,
      queuedTasks: () => 0,
      memoryUsed: () => 0,
      estimatedWaitMs: (p) => admission.estimatedWaitMs(p),
      workersReplaced: () => 0,
    });
    let handled = 0;
    const server = new grpc.Server({ interceptors: [earlyRefusal(() => admission, metrics)] });
    server.addService(service, {
      Recognize: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => (handled++, callback(null, Buffer.alloc(0))),
    });
    const port = await withReceiveWindow(
      DEFAULT_RECEIVE_WINDOW,
      () =>
        new Promise<number>((resolve, reject) =>
          server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
        ),
    );
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request(
        { ':method': 'POST', ':path': RECOGNIZE, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '20S' },
        { endStream: false },
      );
      // A message declared 32 MiB, of which the first MiB is sent; the rest would follow, unless told to stop.
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(32 * MB, 1);
      stream.write(Buffer.concat([prefix, Buffer.alloc(MB, 1)]));
      stream.resume();
      const [headers] = await Promise.all([
        new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('response', resolve)),
        new Promise<void>((resolve) => stream.once('close', resolve)),
      ]);
      expect(headers['grpc-status']).to.equal(String(grpc.status.RESOURCE_EXHAUSTED));
      expect(decodeURIComponent(String(headers['grpc-message']))).to.match(/server busy: .* retry in \d+ ms or on another instance/);
      expect(headers['grpc-retry-pushback-ms']).to.match(/^\d+$/);
      expect(stream.rstCode).to.equal(http2.constants.NGHTTP2_NO_ERROR);
      expect(handled).to.equal(0);
    } finally {
      session.destroy();
      server.forceShutdown();
      finish();
      await held;
    }
  });
});
