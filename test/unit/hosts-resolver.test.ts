import { EventEmitter, once } from 'node:events';
import { expect } from 'chai';
import { experimental, Server, type ChannelOptions } from '@grpc/grpc-js';
import { OcrClient } from '../../src/client/index.js';
import { channelTarget, HostsResolver } from '../../src/client/resolver-hosts.js';
import { HOSTS_SCHEME } from '../../src/client/host-list.js';
import { HOST_NAMES_OPTION, HostNames } from '../../src/client/host-names.js';
import { bindLoopback } from '../../src/dev/free-port.js';
import { OcrServiceService, ServerInfo, type OcrServiceServer } from '../../src/gen/ocr/v1/ocr.js';
import { closedPort } from '../support/closed-port.js';

type Result = Parameters<experimental.ResolverListener>[0];

const addressesOf = (result: Result): string[] => {
  if (!result.ok) throw new Error(result.error.details);
  return result.value.flatMap((endpoint) => endpoint.addresses.map(experimental.subchannelAddressToString));
};

describe('the resolver of a list of servers', () => {
  it('gives every address of every entry once, and leaves out a name that does not resolve', async () => {
    const results = new EventEmitter();
    const resolver = new HostsResolver(
      { scheme: HOSTS_SCHEME, path: 'localhost:50051,127.0.0.1:50051,ocr-nowhere.invalid:50052,10.0.0.7:50053,[fd00::7]:50053' },
      (result) => results.emit('result', result),
      {},
    );
    try {
      const answer = once(results, 'result') as Promise<[Result]>;
      resolver.updateResolution();
      const addresses = addressesOf((await answer)[0]);
      // localhost is 127.0.0.1 (and, on some machines, ::1 as well): listed once however often it is named.
      expect(addresses.filter((a) => a === '127.0.0.1:50051')).to.have.length(1);
      expect(addresses).to.include.members(['10.0.0.7:50053', '[fd00::7]:50053']);
      expect(addresses.filter((a) => a.endsWith(':50052'))).to.deep.equal([]);
    } finally {
      resolver.destroy();
    }
  });

  it("passes on the entries' names as one object per list: channels to the same list share their subchannels", async () => {
    const path = 'localhost:50051,127.0.0.1:50052';
    const attributes = await Promise.all(
      [0, 1].map(async () => {
        const results = new EventEmitter();
        // The IP entry is passed on at once, alone; localhost once it has resolved.
        const listener = (result: Result, attrs: Record<string, unknown>): boolean =>
          addressesOf(result).includes('127.0.0.1:50051') && results.emit('both', attrs);
        const resolver = new HostsResolver({ scheme: HOSTS_SCHEME, path }, listener, {});
        const answer = once(results, 'both') as Promise<[Record<string, unknown>]>;
        resolver.updateResolution();
        const [attrs] = await answer;
        resolver.destroy();
        return attrs[HOST_NAMES_OPTION];
      }),
    );
    expect(attributes[0]).to.be.instanceOf(HostNames);
    expect(attributes[0]).to.equal(attributes[1]);
    const names = attributes[0] as HostNames;
    expect(names.nameOf('127.0.0.1', 50051)).to.equal('localhost');
    expect(names.nameOf('127.0.0.1', 50052)).to.equal(undefined);
  });

  it('passes on no unchanged list: round_robin past an instance that is down does not loop on lookups', async () => {
    const server = new Server();
    const answering: Partial<OcrServiceServer> = { getServerInfo: (_call, callback) => callback(null, ServerInfo.fromPartial({})) };
    server.addService(OcrServiceService, answering as OcrServiceServer);
    const port = await bindLoopback(server);
    let reports = 0;
    /** The resolver grpc-js makes for the client below, counting what it passes on. */
    class Counted extends HostsResolver {
      constructor(uri: experimental.GrpcUri, listener: experimental.ResolverListener, options: ChannelOptions) {
        super(uri, (...result) => (reports++, listener(...result)), options);
      }
    }
    channelTarget('localhost:1,localhost:2');
    experimental.registerResolver(HOSTS_SCHEME, Counted);
    // round_robin starts its connections over on every list it is given; the one refused at once asks for another.
    const client = new OcrClient(`localhost:${port},127.0.0.1:${await closedPort()}`, { loadBalancing: 'round_robin' });
    try {
      for (let i = 0; i < 50; i++) await client.getServerInfo();
      // One list as each entry is read (the address at once, localhost once looked up), then none.
      expect(reports).to.be.within(1, 2);
    } finally {
      client.close();
      experimental.registerResolver(HOSTS_SCHEME, HostsResolver);
      server.forceShutdown();
    }
  });

  it('hands grpc-js a list under its scheme, and any other target as it is', () => {
    expect(channelTarget('ocr-1:50051,ocr-2:50051')).to.equal('hosts:ocr-1:50051,ocr-2:50051');
    expect(channelTarget('dns:///ocr-1:50051,10.0.0.7:50051')).to.equal('hosts:ocr-1:50051,10.0.0.7:50051');
    for (const target of [
      'ocr.internal:50051',
      'dns:///ocr.internal:50051',
      'ipv4:10.0.0.1:1,10.0.0.2:2',
      'consul://127.0.0.1:8500/ocr?tag=a,b',
    ]) {
      expect(channelTarget(target)).to.equal(target);
    }
  });
});
