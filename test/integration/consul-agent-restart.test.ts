import { expect } from 'chai';
import http from 'node:http';
import type { experimental } from '@grpc/grpc-js';
import { ConsulResolver } from '../../src/client/resolver-consul.js';
import { ConsulDouble } from '../support/consul-double.js';

/**
 * Registers an instance at 127.0.0.1:`port` with no check (passing at once), on a connection of its
 * own: fetch's pool may still hold one the agent's restart cut, and fail on it.
 */
async function register(address: string, id: string, port: number): Promise<void> {
  const body = JSON.stringify({ ID: id, Name: 'ocr', Address: '127.0.0.1', Port: port });
  const status = await new Promise<number | undefined>((resolve, reject) => {
    const request = http.request(`${address}/v1/agent/service/register`, { method: 'PUT', agent: false }, (response) => {
      response.resume().on('end', () => resolve(response.statusCode));
    });
    request.on('error', reject).end(body);
  });
  expect(status).to.equal(200);
}

describe('consul:// resolver and an agent that restarts without its data (consul agent -dev)', function () {
  // Before the watch asked afresh after the outage, the new instance came after the query's wait (10 minutes here).
  this.timeout(30_000);

  it('finds the instances the restarted agent has at once, though its index starts again below the one the watch held', async () => {
    const agent = new ConsulDouble({ dev: true });
    const { address, port } = await agent.start();
    const reported: number[][] = [];
    let seen: (ports: number[]) => void = () => undefined;
    const listener: experimental.ResolverListener = (endpoints) => {
      if (endpoints.ok) {
        const ports = endpoints.value.map((endpoint) => (endpoint.addresses[0] as { port: number }).port);
        reported.push(ports);
        seen(ports);
      }
      return true;
    };
    const reportOf = (want: number): Promise<void> =>
      new Promise((resolve) => {
        if (reported.some((ports) => ports.includes(want))) return resolve();
        seen = (ports) => void (ports.includes(want) && resolve());
      });
    const resolver = new ConsulResolver({ scheme: 'consul', authority: `127.0.0.1:${port}`, path: 'ocr' }, listener, {
      'ocr.consul_wait_ms': 600_000,
    });
    try {
      // Registered again and again, as instances come and go: the service's index grows.
      for (let i = 0; i < 10; i++) await register(address, 'ocr-a', 50001);
      resolver.updateResolution();
      await reportOf(50001);
      await agent.stop();
      await agent.start(port);
      // The restarted agent has forgotten ocr-a; an instance registers with it at an index below the watch's.
      await register(address, 'ocr-b', 50002);
      await reportOf(50002);
      expect(reported.at(-1)).to.deep.equal([50002]);
    } finally {
      resolver.destroy();
      await agent.close();
    }
  });
});
