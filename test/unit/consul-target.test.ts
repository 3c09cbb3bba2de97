import { expect } from 'chai';
import { healthQueryUrl, instancesOf, nextIndex, parseConsulTarget } from '../../src/client/consul-target.js';
import { serviceConfig } from '../../src/client/service-config.js';

describe('consul:// targets', () => {
  it('parses agent, service, tag and dc', () => {
    expect(parseConsulTarget('10.0.0.5:8500', 'ocr?tag=v4&dc=eu1')).to.deep.equal({
      agent: 'http://10.0.0.5:8500',
      service: 'ocr',
      tag: 'v4',
      dc: 'eu1',
    });
    expect(parseConsulTarget('', '/ocr')).to.deep.equal({ agent: 'http://127.0.0.1:8500', service: 'ocr' });
  });

  it('refuses a target without a service or with unknown parameters, saying what is valid', () => {
    expect(() => parseConsulTarget('127.0.0.1:8500', '')).to.throw(/consul:\/\/AGENT_HOST:PORT\/SERVICE/);
    expect(() => parseConsulTarget('127.0.0.1:8500', 'ocr?colour=red')).to.throw(/unknown parameter "colour"/);
  });

  it('asks for passing instances with a blocking query', () => {
    const url = new URL(healthQueryUrl({ agent: 'http://127.0.0.1:8500', service: 'ocr', tag: 'v4' }, 42, '30s'));
    expect(url.pathname).to.equal('/v1/health/service/ocr');
    expect(Object.fromEntries(url.searchParams)).to.deep.equal({ passing: 'true', index: '42', wait: '30s', tag: 'v4' });
  });

  it('takes the service address, else the node address', () => {
    const body = [
      { Node: { Address: '10.0.0.1' }, Service: { Address: '10.0.0.9', Port: 50051 } },
      { Node: { Address: '10.0.0.2' }, Service: { Address: '', Port: 50052 } },
      { Node: { Address: '10.0.0.3' }, Service: { Port: 0 } },
    ];
    expect(instancesOf(body)).to.deep.equal([
      { host: '10.0.0.9', port: 50051 },
      { host: '10.0.0.2', port: 50052 },
    ]);
    expect(instancesOf({ not: 'an array' })).to.deep.equal([]);
  });

  it('resets the index when Consul reports a smaller or invalid one', () => {
    expect(nextIndex(10, '12')).to.equal(12);
    expect(nextIndex(10, '7')).to.equal(0);
    expect(nextIndex(10, null)).to.equal(0);
    expect(nextIndex(10, '0')).to.equal(0);
  });

  it('configures the balancing policy and retries of idempotent calls on UNAVAILABLE', () => {
    const config = JSON.parse(serviceConfig('pick_first', 4)) as {
      loadBalancingConfig: object[];
      methodConfig: { name: { method: string }[]; retryPolicy: { maxAttempts: number; retryableStatusCodes: string[] } }[];
    };
    expect(config.loadBalancingConfig).to.deep.equal([{ pick_first: {} }]);
    expect(config.methodConfig[0]!.name.map((n) => n.method)).to.deep.equal(['Recognize', 'RecognizeLines', 'GetServerInfo']);
    expect(config.methodConfig[0]!.retryPolicy.maxAttempts).to.equal(4);
    expect(config.methodConfig[0]!.retryPolicy.retryableStatusCodes).to.deep.equal(['UNAVAILABLE']);
  });
});
