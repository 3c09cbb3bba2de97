/**
 * HTTP request bodies go through the same upload gate as gRPC requests (src/http/body-turn.ts): past
 * their share of the memory budget only the oldest are read, and those that stall meanwhile are
 * answered 429, so that the other requests go on. Against a real `ocr serve` with a 64 MiB budget:
 * 16 MiB for bodies being read.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';

const MB = 1024 * 1024;

/** A connection that sends a request's head and `sent` bytes of a `length`-byte body, then stalls; its answer's status line and body. */
function stalledRequest(port: number, contentType: string, length: number, sent: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d+)/.exec(answer);
      if (!status) return reject(new Error(`no HTTP answer: ${JSON.stringify(answer.slice(0, 200))}`));
      resolve({ status: Number(status[1]), body: answer.slice(answer.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(`POST /api/ocr HTTP/1.1\r\nhost: test\r\ncontent-type: ${contentType}\r\ncontent-length: ${length}\r\n\r\n`);
    socket.write(sent);
  });
}

describe('HTTP bodies under the upload gate', function () {
  // Without the bound the stalled requests are answered only at the 120 s request timeout: the test fails on this one.
  this.timeout(60_000);
  let server: ServerProcess;

  before(async () => {
    server = await spawnServer(['--memory-budget-mb', '64']);
  });

  after(() => server?.child.kill('SIGKILL'));

  it('past their share of the budget, answers 429 to the bodies that stall, multipart or raw, and reads the next request whole', async () => {
    const boundary = 'b0undary';
    const partHead = `--${boundary}\r\ncontent-disposition: form-data; name="image"; filename="scan.jpg"\r\ncontent-type: image/jpeg\r\n\r\n`;
    // Twenty connections, each 2 MiB into a 3 MiB body: 40 MiB, if all were read.
    const stalled = Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0
        ? stalledRequest(server.httpPort!, 'image/jpeg', 3 * MB, Buffer.alloc(2 * MB, 1))
        : stalledRequest(
            server.httpPort!,
            `multipart/form-data; boundary=${boundary}`,
            3 * MB,
            Buffer.concat([Buffer.from(partHead), Buffer.alloc(2 * MB, 1)]),
          ),
    );
    // The sixteen read stall and are answered 2 s after their last byte, the connections closed after
    // the answer, until the rest hold less than the share: thirteen at least (7 × 2 MiB < 16 MiB).
    // Those left are read then, and stay.
    const answered: Array<{ status: number; body: string }> = [];
    await new Promise<void>((resolve) => {
      for (const request of stalled) {
        request.then(
          (answer) => answered.push(answer) === 13 && resolve(),
          () => undefined,
        );
      }
    });
    for (const { status, body } of answered) {
      expect(status, body).to.equal(429);
      const json = JSON.parse(body) as { code: number; msg: string };
      expect(json.code).to.not.equal(0);
      expect(json.msg).to.match(
        /^less than 64 KiB of this request in 2 s while the requests being read held all of this server's memory for uploads \(16 MiB\)/,
      );
    }
    // What those left hold, for operators: above nothing, below the share.
    const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    const held = Number(/^ocr_upload_bytes_held (\S+)$/m.exec(metrics)?.[1]);
    expect(held)
      .to.be.above(0)
      .and.below(16 * MB);
    const line = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));
    const form = new FormData();
    form.append('image', new Blob([line], { type: 'image/png' }), 'line.png');
    const next = await fetch(`http://127.0.0.1:${server.httpPort}/api/ocr/lines`, { method: 'POST', body: form });
    const read = (await next.json()) as { code: number; data: Array<{ text: string }> };
    expect(next.status).to.equal(200);
    expect(read.data[0]!.text).to.contain('各区县人民政府');
  });
});
