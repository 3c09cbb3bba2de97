import http2 from 'node:http2';
import { once } from 'node:events';
import { expect } from 'chai';
import { Server } from '@grpc/grpc-js';
import { ReceiveWindowControl } from '../../src/server/http2-receive-window.js';
import { withHttp2Servers } from '../../src/server/http2-servers.js';
import { bindLoopback } from '../../src/dev/free-port.js';

describe('the gRPC server HTTP/2 receive window', () => {
  const window = { streamBytes: 3 * 1024 * 1024, refusingStreamBytes: 8 * 1024, connectionBytes: 12 * 1024 * 1024 };
  let server: Server;
  let port: number;

  before(async () => {
    server = new Server();
    const control = new ReceiveWindowControl(window);
    port = await withHttp2Servers(
      (http2Server) => control.follow(http2Server),
      () => bindLoopback(server),
    );
  });
  after(() => server.forceShutdown());

  it('is announced to each client: the connection window by WINDOW_UPDATE, the stream window in SETTINGS', async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    try {
      // Node's defaults come first; the server's own SETTINGS and WINDOW_UPDATE once its session
      // starts. A ping's answer comes after both.
      while (((await once(client, 'remoteSettings')) as [http2.Settings])[0].initialWindowSize !== window.streamBytes);
      await new Promise((resolve, reject) => client.ping((err) => (err ? reject(err) : resolve(undefined))));
      expect(client.state.remoteWindowSize).to.equal(window.connectionBytes);
    } finally {
      client.close();
    }
  });

  it('leaves http2.createServer as it was for everyone else', () => {
    const plain = http2.createServer();
    expect(plain.listenerCount('session')).to.equal(0);
    plain.close();
  });
});
