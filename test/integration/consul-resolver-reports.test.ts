import { EventEmitter, once } from 'node:events';
import { expect } from 'chai';
import type { experimental } from '@grpc/grpc-js';
import { ConsulResolver } from '../../src/client/resolver-consul.js';
import { ConsulDouble } from '../support/consul-double.js';
import { consulRequest } from '../support/consul.js';

type Result = Parameters<experimental.ResolverListener>[0];

/** The ports of a list the resolver passed on. */
const portsOf = (result: Result): number[] => {
  if (!result.ok) throw new Error(result.error.details);
  return result.value.map((endpoint) => (endpoint.addresses[0] as { port: number }).port);
};

/** Registers an instance at 127.0.0.1:`port` with no check: passing at once. */
async function register(address: string, id: string, port: number): Promise<void> {
  const service = { ID: id, Name: 'ocr', Address: '127.0.0.1', Port: port };
  expect((await consulRequest(address, '/v1/agent/service/register', { method: 'PUT', body: service })).status).to.equal(200);
}

/** What grpc-js's channel sees of a consul:// resolver: each list it passes on, in order. */
describe('consul:// resolver: what it passes on to grpc-js', function () {
  // A blocking query held for its whole wait (10 minutes here) fails the test by its timeout.
  this.timeout(20_000);

  let agent: ConsulDouble;
  let address: string;
  let resolver: ConsulResolver;
  const results = new EventEmitter();
  const reports: number[][] = [];
  const nextReport = (): Promise<number[]> => once(results, 'result').then(([ports]) => ports as number[]);

  beforeEach(async () => {
    agent = new ConsulDouble();
    let port: number;
    ({ address, port } = await agent.start(0));
    reports.length = 0;
    resolver = new ConsulResolver(
      { scheme: 'consul', authority: `127.0.0.1:${port}`, path: 'ocr' },
      (result) => {
        reports.push(portsOf(result));
        results.emit('result', portsOf(result));
        return true;
      },
      { 'ocr.consul_wait_ms': 600_000 },
    );
    await register(address, 'ocr-1', 50001);
  });

  afterEach(async () => {
    resolver.destroy();
    await agent.close();
  });

  it('answers no re-resolution request with the list it passed on already (round_robin would start its connections over, in a loop)', async () => {
    const first = nextReport();
    resolver.updateResolution();
    expect(await first).to.deep.equal([50001]);
    // grpc-js asks again each time a connection fails: an instance down asks many times a second.
    for (let i = 0; i < 100; i++) resolver.updateResolution();
    const change = nextReport();
    await register(address, 'ocr-2', 50002);
    expect((await change).sort()).to.deep.equal([50001, 50002]);
    expect(reports).to.have.length(2);
  });

  it('gives a channel back from idle its instances at once, though Consul has nothing new (grpc-js destroys an idle channel’s resolver)', async () => {
    const first = nextReport();
    resolver.updateResolution();
    expect(await first).to.deep.equal([50001]);
    // As grpc-js does after grpc.client_idle_timeout_ms (30 minutes by default) without a call, and then on the next call.
    resolver.destroy();
    const again = nextReport();
    resolver.updateResolution();
    expect(await again).to.deep.equal([50001]);
  });
});
