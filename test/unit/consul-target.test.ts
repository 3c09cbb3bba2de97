import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { consulAgentTls, consulAgentUrl, consulEnvToken } from '../../src/client/consul-agent.js';
import { blockingWaitMs, healthQueryUrl, instancesOf, MAX_WAIT_MS, nextIndex, parseConsulTarget } from '../../src/client/consul-target.js';
import { serviceConfig } from '../../src/client/service-config.js';

describe('consul:// targets', () => {
  it("asks Consul for the wait the channel option names, whole ms, at most Consul's 10 minutes", () => {
    expect(blockingWaitMs(300)).to.equal(300);
    expect(blockingWaitMs(0.5)).to.equal(1);
    expect(blockingWaitMs(3_600_000)).to.equal(MAX_WAIT_MS);
    expect(MAX_WAIT_MS).to.equal(600_000);
    for (const unusable of [undefined, 0, -1, '600000', Number.NaN]) expect(blockingWaitMs(unusable)).to.equal(30_000);
  });

  it('parses service, tag and dc', () => {
    expect(parseConsulTarget('http://10.0.0.5:8500', 'ocr?tag=v4&dc=eu1')).to.deep.equal({
      agent: 'http://10.0.0.5:8500',
      service: 'ocr',
      tag: 'v4',
      dc: 'eu1',
    });
    expect(parseConsulTarget('http://127.0.0.1:8500', '/ocr')).to.deep.equal({ agent: 'http://127.0.0.1:8500', service: 'ocr' });
  });

  it("finds the agent as Consul's tools do: the target's address, else CONSUL_HTTP_ADDR, HTTPS where told", () => {
    const none = {};
    expect(consulAgentUrl('10.0.0.5:8500', undefined, none)).to.equal('http://10.0.0.5:8500');
    expect(consulAgentUrl('consul.local', undefined, none), 'no port: 8500').to.equal('http://consul.local:8500');
    expect(consulAgentUrl('', undefined, none)).to.equal('http://127.0.0.1:8500');
    expect(consulAgentUrl(undefined, undefined, { CONSUL_HTTP_ADDR: '10.0.0.7:8500' })).to.equal('http://10.0.0.7:8500');
    expect(consulAgentUrl('', undefined, { CONSUL_HTTP_ADDR: 'https://consul.local' }), 'https, no port: 8501').to.equal(
      'https://consul.local:8501',
    );
    expect(consulAgentUrl('10.0.0.5:8501', undefined, { CONSUL_HTTP_SSL: 'true', CONSUL_HTTP_ADDR: 'http://other:1' })).to.equal(
      'https://10.0.0.5:8501',
    );
    expect(consulAgentUrl('10.0.0.5:8500', undefined, { CONSUL_HTTP_SSL: 'false' })).to.equal('http://10.0.0.5:8500');
    expect(consulAgentUrl('[::1]', undefined, { CONSUL_HTTP_SSL: 'T' })).to.equal('https://[::1]:8501');
    expect(consulAgentUrl('10.0.0.5:8500', {}, none), 'the channel option').to.equal('https://10.0.0.5:8500');
  });

  it("takes an https agent's TLS from the channel option, else from Consul's variables", () => {
    expect(consulAgentTls({ ca: 'CA PEM', serverName: 'consul.internal' }, { CONSUL_TLS_SERVER_NAME: 'ignored' })).to.deep.equal({
      ca: 'CA PEM',
      servername: 'consul.internal',
    });
    expect(consulAgentTls(undefined, { CONSUL_TLS_SERVER_NAME: 'consul.internal', CONSUL_HTTP_SSL_VERIFY: 'false' })).to.deep.equal({
      servername: 'consul.internal',
      rejectUnauthorized: false,
    });
    expect(() => consulAgentTls(undefined, { CONSUL_CLIENT_KEY: '/no/such/key.pem' })).to.throw(
      /^cannot read CONSUL_CLIENT_KEY \/no\/such\/key\.pem: ENOENT/,
    );
    expect(() => consulAgentTls('CA PEM', {})).to.throw(TypeError, /ocr\.consul_tls must be an object/);
  });

  it("takes the token as Consul's tools do: the file CONSUL_HTTP_TOKEN_FILE names, else CONSUL_HTTP_TOKEN", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'consul-token-'));
    try {
      const file = path.join(dir, 'token');
      writeFileSync(file, 'from-file\n');
      expect(consulEnvToken({ CONSUL_HTTP_TOKEN_FILE: file, CONSUL_HTTP_TOKEN: 'from-env' })).to.equal('from-file');
      expect(consulEnvToken({ CONSUL_HTTP_TOKEN: 'from-env' })).to.equal('from-env');
      expect(consulEnvToken({})).to.equal(undefined);
      expect(() => consulEnvToken({ CONSUL_HTTP_TOKEN_FILE: path.join(dir, 'none') })).to.throw(
        /^cannot read CONSUL_HTTP_TOKEN_FILE .*none: ENOENT/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a target without a service or with unknown parameters, saying what is valid', () => {
    expect(() => parseConsulTarget('http://127.0.0.1:8500', '')).to.throw(/consul:\/\/AGENT_HOST:PORT\/SERVICE/);
    expect(() => parseConsulTarget('http://127.0.0.1:8500', 'ocr?colour=red')).to.throw(/unknown parameter "colour"/);
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

  it('lists an address registered twice once', () => {
    const body = [
      { Node: { Address: '10.0.0.1' }, Service: { ID: 'ocr-a', Address: '10.0.0.9', Port: 50051 } },
      { Node: { Address: '10.0.0.2' }, Service: { ID: 'ocr-b', Address: '10.0.0.9', Port: 50051 } },
      { Node: { Address: '10.0.0.9' }, Service: { ID: 'ocr-c', Address: '', Port: 50051 } },
      { Node: { Address: '10.0.0.1' }, Service: { ID: 'ocr-d', Address: '10.0.0.9', Port: 50052 } },
    ];
    expect(instancesOf(body)).to.deep.equal([
      { host: '10.0.0.9', port: 50051 },
      { host: '10.0.0.9', port: 50052 },
    ]);
  });

  it('resets the index when Consul reports a smaller or invalid one', () => {
    expect(nextIndex(10, '12')).to.equal(12);
    expect(nextIndex(10, '7')).to.equal(0);
    expect(nextIndex(10, null)).to.equal(0);
    expect(nextIndex(10, '0')).to.equal(0);
  });

  it('never sends index 0 after an answer, which Consul answers at once (its docs: "sanity check index is greater than zero")', () => {
    expect(nextIndex(0, '0')).to.equal(1);
    expect(nextIndex(0, null)).to.equal(1);
    expect(nextIndex(1, '0')).to.equal(1);
    expect(nextIndex(0, '5')).to.equal(5);
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
