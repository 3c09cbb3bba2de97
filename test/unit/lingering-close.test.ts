import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { expect } from 'chai';
import { lingerAfterAnswer, type LingerBounds } from '../../src/http/lingering-close.js';

/** A server that answers 413 from the headers, before reading the body, and closes as `bounds` say. */
async function refusingServer(
  bounds: LingerBounds,
  stop = new AbortController().signal,
): Promise<{ port: number; closed: Promise<number>; stop(): Promise<void> }> {
  let answeredAt = 0;
  let resolveClosed: (ms: number) => void = () => undefined;
  const closed = new Promise<number>((resolve) => (resolveClosed = resolve));
  const server = http.createServer((request, response) => {
    request.socket.once('close', () => resolveClosed(Date.now() - answeredAt));
    lingerAfterAnswer(request, stop, bounds);
    answeredAt = Date.now();
    response.writeHead(413, { connection: 'close', 'content-length': '2' }).end('no');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    closed,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A client that has sent the headers of a 64 MiB body and 64 KiB of it, and read the answer and the server's end. */
async function answered(port: number): Promise<{ socket: net.Socket; answer: string }> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString()));
  socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`);
  socket.write(Buffer.alloc(64 * 1024));
  await once(socket, 'end');
  return { socket, answer };
}

describe('lingering close', () => {
  it('reads and drops the rest of a refused body without a reset, and closes once the body has ended', async () => {
    const server = await refusingServer({ totalMs: 60_000, idleMs: 60_000 });
    const { socket, answer } = await answered(server.port);
    expect(answer).to.match(/^HTTP\/1\.1 413 /);
    let failed: Error | undefined;
    socket.on('error', (err) => (failed = err));
    const rest = 64 * 1024 * 1024 - 64 * 1024;
    // Every byte written, which a reset would fail.
    await new Promise<void>((resolve) => socket.write(Buffer.alloc(rest), () => resolve()));
    expect(failed).to.equal(undefined);
    // Closed by the server on the body's last byte, long before either bound.
    expect(await server.closed).to.be.below(30_000);
    socket.destroy();
    await server.stop();
  });

  it('closes a connection whose client goes quiet after the idle bound', async () => {
    const server = await refusingServer({ totalMs: 60_000, idleMs: 300 });
    const { socket } = await answered(server.port);
    expect(await server.closed).to.be.within(250, 30_000);
    socket.destroy();
    await server.stop();
  });

  it('keeps a connection whose client sends a little at a time, and closes it once it goes quiet', async () => {
    const server = await refusingServer({ totalMs: 60_000, idleMs: 300 });
    const { socket } = await answered(server.port);
    socket.on('error', () => undefined);
    const trickle = setInterval(() => socket.write(Buffer.alloc(1024)), 50);
    const quietFrom = new Promise<number>((resolve) =>
      setTimeout(() => {
        clearInterval(trickle);
        resolve(Date.now());
      }, 1500),
    );
    await server.closed;
    expect(Date.now() - (await quietFrom)).to.be.within(250, 30_000);
    socket.destroy();
    await server.stop();
  });

  it('closes a connection whose client keeps sending after the total bound', async () => {
    const server = await refusingServer({ totalMs: 500, idleMs: 60_000 });
    const { socket } = await answered(server.port);
    socket.on('error', () => undefined);
    const trickle = setInterval(() => socket.write(Buffer.alloc(1024)), 50);
    expect(await server.closed).to.be.within(450, 30_000);
    clearInterval(trickle);
    socket.destroy();
    await server.stop();
  });

  it('closes at once when the server closes', async () => {
    const closing = new AbortController();
    const server = await refusingServer({ totalMs: 60_000, idleMs: 60_000 }, closing.signal);
    const { socket } = await answered(server.port);
    const aborted = Date.now();
    closing.abort();
    await server.closed;
    expect(Date.now() - aborted).to.be.below(1000);
    socket.destroy();
    await server.stop();
  });

  it('closes at once, as before, when the body had been read whole', async () => {
    const server = await refusingServer({ totalMs: 60_000, idleMs: 60_000 });
    const socket = net.connect({ port: server.port, host: '127.0.0.1', allowHalfOpen: true });
    socket.end('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi');
    expect(await server.closed).to.be.below(30_000);
    socket.destroy();
    await server.stop();
  });
});
