import { EventEmitter, once } from 'node:events';
import { expect } from 'chai';
import { experimental } from '@grpc/grpc-js';
import { channelTarget, HostsResolver } from '../../src/client/resolver-hosts.js';

type Result = Parameters<experimental.ResolverListener>[0];

/** A resolver for `list` whose results arrive as 'result' events. */
function resolverFor(list: string): { resolver: HostsResolver; next: () => Promise<Result> } {
  const results = new EventEmitter();
  const resolver = new HostsResolver({ scheme: 'hosts', path: list }, (result) => results.emit('result', result), {});
  return { resolver, next: async () => ((await once(results, 'result')) as [Result])[0] };
}

const addressesOf = (result: Result): string[] => {
  if (!result.ok) throw new Error(result.error.details);
  return result.value.flatMap((endpoint) => endpoint.addresses.map(experimental.subchannelAddressToString));
};

describe('the resolver of a list of servers', () => {
  it('gives every address of every entry once, leaves out a name that does not resolve, and answers each time grpc-js asks', async () => {
    const { resolver, next } = resolverFor('localhost:50051,127.0.0.1:50051,ocr-nowhere.invalid:50052,10.0.0.7:50053,[fd00::7]:50053');
    try {
      let answer = next();
      resolver.updateResolution();
      const first = addressesOf(await answer);
      // localhost is 127.0.0.1 (and, on some machines, ::1 as well): listed once however often it is named.
      expect(first.filter((a) => a === '127.0.0.1:50051')).to.have.length(1);
      expect(first).to.include.members(['10.0.0.7:50053', '[fd00::7]:50053']);
      expect(first.filter((a) => a.endsWith(':50052'))).to.deep.equal([]);
      // Asked again (a connection lost): the same list again, which the balancers keep their connections across.
      answer = next();
      resolver.updateResolution();
      expect(addressesOf(await answer)).to.deep.equal(first);
    } finally {
      resolver.destroy();
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
