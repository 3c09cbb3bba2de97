import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { experimental } from '@grpc/grpc-js';
import { ConsulResolver } from '../../src/client/resolver-consul.js';
import { collectGarbage } from '../../src/engine/runtime/collect-garbage.js';

/** One instance at `port`, as Consul's health endpoint lists it. */
const listing = (port: number): string =>
  JSON.stringify([{ Node: { Address: '127.0.0.1' }, Service: { Address: '127.0.0.1', Port: port } }]);

describe('consul:// resolver and an agent that stops answering', function () {
  // Without a bound on each query, the watch waits as long as the socket stays open and the test fails on this timeout.
  this.timeout(20_000);

  it('gives up a blocking query unanswered past its wait and asks again, so that changes still arrive', async () => {
    let queries = 0;
    const sockets = new Set<Socket>();
    // Lists one instance, then holds the next query open without a byte (a half-open connection to
    // an agent that vanished), then lists another.
    const agent = http.createServer((_request, response) => {
      queries++;
      if (queries === 2) return;
      response.setHeader('X-Consul-Index', String(queries));
      response.end(listing(queries === 1 ? 50001 : 50002));
    });
    agent.on('connection', (socket: Socket) => sockets.add(socket));
    await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
    const { port } = agent.address() as AddressInfo;
    const reported: number[] = [];
    let second: () => void = () => undefined;
    const secondReported = new Promise<void>((resolve) => (second = resolve));
    const listener: experimental.ResolverListener = (endpoints) => {
      if (!endpoints.ok) return true;
      reported.push(...endpoints.value.map((endpoint) => (endpoint.addresses[0] as { port: number }).port));
      if (reported.length === 2) second();
      return true;
    };
    const resolver = new ConsulResolver({ scheme: 'consul', authority: `127.0.0.1:${port}`, path: 'ocr' }, listener, {
      'ocr.consul_wait_ms': 300,
    });
    const started = performance.now();
    // Garbage collected meanwhile, as in any busy client: a bound on the query that only a weakly
    // held signal keeps (AbortSignal.timeout inside AbortSignal.any) was collected and never fired.
    const collecting = setInterval(collectGarbage, 200);
    try {
      resolver.updateResolution();
      await secondReported;
      expect(reported).to.deep.equal([50001, 50002]);
      // The silent query was given up after its wait, the wait/16 Consul may add and the margin: 5.3 s.
      expect(performance.now() - started).to.be.at.least(5300);
      expect(queries).to.equal(3);
    } finally {
      clearInterval(collecting);
      resolver.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => agent.close(resolve));
    }
  });
});
