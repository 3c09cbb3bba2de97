import type { NetworkInterfaceInfo } from 'node:os';
import { expect } from 'chai';
import {
  advertiseHostFor,
  consulServiceId,
  failingChecks,
  instanceMeta,
  parseConsulAddress,
  staleTwins,
  unreachableAdvertisement,
} from '../../src/server/consul-registration.js';
import { parseGoDuration } from '../support/go-duration.js';

describe('Consul registration helpers', () => {
  /** A network interface's address as os.networkInterfaces() lists it. */
  const nic = (address: string, family: 'IPv4' | 'IPv6', internal: boolean): NetworkInterfaceInfo =>
    ({
      address,
      family,
      internal,
      netmask: '',
      mac: '',
      cidr: null,
      ...(family === 'IPv6' ? { scopeid: 0 } : {}),
    }) as NetworkInterfaceInfo;

  it('find the registrations an earlier process left at the same address and port, of the same service only', () => {
    const own = { id: 'ocr-new', service: 'ocr', address: '10.0.0.5', port: 50051 };
    const services = {
      'ocr-new': { ID: 'ocr-new', Service: 'ocr', Address: '10.0.0.5', Port: 50051 },
      'ocr-old': { ID: 'ocr-old', Service: 'ocr', Address: '10.0.0.5', Port: 50051 },
      'ocr-other-port': { ID: 'ocr-other-port', Service: 'ocr', Address: '10.0.0.5', Port: 50052 },
      'ocr-other-host': { ID: 'ocr-other-host', Service: 'ocr', Address: '10.0.0.6', Port: 50051 },
      'redis-1': { ID: 'redis-1', Service: 'redis', Address: '10.0.0.5', Port: 50051 },
    };
    expect(staleTwins(services, own)).to.deep.equal(['ocr-old']);
  });

  it("read the failing checks of one instance, leaving out those not yet run and other instances'", () => {
    const checks = {
      a: {
        Name: 'gRPC health of ocr.v1.OcrService',
        ServiceID: 'ocr-1',
        Status: 'critical',
        Output: 'dial tcp 10.0.0.5:1: connection refused',
      },
      b: { Name: 'HTTP /healthz', ServiceID: 'ocr-1', Status: 'critical', Output: '' },
      c: { Name: 'HTTP /healthz', ServiceID: 'ocr-1', Status: 'passing', Output: 'HTTP GET: 200 OK' },
      d: { Name: 'gRPC health of ocr.v1.OcrService', ServiceID: 'ocr-2', Status: 'critical', Output: 'timeout' },
    };
    expect(failingChecks(checks, 'ocr-1')).to.deep.equal(['gRPC health of ocr.v1.OcrService: dial tcp 10.0.0.5:1: connection refused']);
  });

  it('parse agent addresses as CONSUL_HTTP_ADDR takes them', () => {
    expect(parseConsulAddress('http://127.0.0.1:8500')).to.deep.equal({ host: '127.0.0.1', port: 8500, secure: false });
    expect(parseConsulAddress('127.0.0.1:8600')).to.deep.equal({ host: '127.0.0.1', port: 8600, secure: false });
    expect(parseConsulAddress('consul.local')).to.deep.equal({ host: 'consul.local', port: 8500, secure: false });
    expect(parseConsulAddress('https://consul.local')).to.deep.equal({ host: 'consul.local', port: 8501, secure: true });
    expect(parseConsulAddress('https://[::1]:9501/')).to.deep.equal({ host: '::1', port: 9501, secure: true });
    expect(() => parseConsulAddress('unix:///var/run/consul.sock')).to.throw(/unsupported Consul address scheme/);
    expect(() => parseConsulAddress('http://:x')).to.throw(/not a Consul HTTP address/);
  });

  it('advertise the listening host, or the first external IPv4 address for a wildcard', () => {
    const interfaces = { lo: [nic('127.0.0.1', 'IPv4', true)], eth0: [nic('fe80::1', 'IPv6', false), nic('10.1.2.3', 'IPv4', false)] };
    expect(advertiseHostFor('127.0.0.1', interfaces)).to.equal('127.0.0.1');
    expect(advertiseHostFor('ocr-7.internal', interfaces)).to.equal('ocr-7.internal');
    expect(advertiseHostFor('0.0.0.0', interfaces)).to.equal('10.1.2.3');
    expect(advertiseHostFor('::', interfaces)).to.equal('10.1.2.3');
    expect(advertiseHostFor('0.0.0.0', { lo: [nic('127.0.0.1', 'IPv4', true)] })).to.equal('127.0.0.1');
  });

  it('advertise, for :: on an IPv6-only host, its first external IPv6 address that is not link-local', () => {
    const ipv6Only = {
      lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)],
      eth0: [nic('fe80::1', 'IPv6', false), nic('FE80::2', 'IPv6', false), nic('2001:db8:1:2::7', 'IPv6', false)],
    };
    expect(advertiseHostFor('::', ipv6Only)).to.equal('2001:db8:1:2::7');
    // An IPv4 wildcard listens on no IPv6 address: its callers could not reach the one registered.
    expect(advertiseHostFor('0.0.0.0', ipv6Only)).to.equal('127.0.0.1');
    expect(advertiseHostFor('::', { lo: ipv6Only.lo, eth0: [nic('fe80::1', 'IPv6', false)] })).to.equal('127.0.0.1');
  });

  it('find a loopback address registered with an agent reached over the network, and nothing else', () => {
    expect(unreachableAdvertisement('127.0.0.1', 'http://consul.internal:8500')).to.match(
      /^registering 127\.0\.0\.1 with the Consul agent at/,
    );
    expect(unreachableAdvertisement('::1', '10.0.0.2:8500')).to.match(/--advertise-host/);
    expect(unreachableAdvertisement('127.0.0.1', '127.0.0.1:8500')).to.equal(null);
    expect(unreachableAdvertisement('localhost', 'http://localhost:8500')).to.equal(null);
    expect(unreachableAdvertisement('10.1.2.3', 'http://consul.internal:8500')).to.equal(null);
  });

  it('name instances SERVICE-HOST-PORT-RANDOM, different on each start', () => {
    const a = consulServiceId('ocr', '10.1.2.3', 50051);
    expect(a).to.match(/^ocr-10\.1\.2\.3-50051-[0-9a-f]{6}$/);
    expect(consulServiceId('ocr', '10.1.2.3', 50051)).not.to.equal(a);
  });

  it('put the model versions and the server version in Meta', () => {
    const meta = instanceMeta(
      {
        manifest: 'ppocr-v4-ch',
        models: [
          { role: 'det', file: 'det.onnx', version: 'PP-OCRv4-det-mobile' },
          { role: 'rec', file: 'rec.onnx', version: 'PP-OCRv4-rec-mobile' },
        ],
      } as Parameters<typeof instanceMeta>[0],
      '0.1.0',
    );
    expect(meta).to.deep.equal({
      manifest: 'ppocr-v4-ch',
      server_version: '0.1.0',
      det_version: 'PP-OCRv4-det-mobile',
      rec_version: 'PP-OCRv4-rec-mobile',
    });
    for (const key of Object.keys(meta)) expect(key).to.match(/^[a-zA-Z0-9_-]+$/); // Consul refuses other keys
  });
});

describe('Go durations (the Consul double reads check intervals and wait with them)', () => {
  it('parse what Consul accepts, in milliseconds', () => {
    expect(parseGoDuration('5s')).to.equal(5000);
    expect(parseGoDuration('100ms')).to.equal(100);
    expect(parseGoDuration('1m30s')).to.equal(90_000);
    expect(parseGoDuration('1.5h')).to.equal(5_400_000);
    expect(parseGoDuration('0')).to.equal(0);
    expect(parseGoDuration('-2s')).to.equal(-2000);
  });

  it('refuse the rest', () => {
    for (const bad of ['', '5', 's', '5 s', '5sec', '1d', '0x10s', '1m30']) expect(parseGoDuration(bad), bad).to.equal(null);
  });
});
