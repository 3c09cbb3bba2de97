import { expect } from 'chai';
import { grpcBindFailure, httpListenFailure } from '../../src/server/bind-failure.js';

describe('grpcBindFailure', () => {
  it('names the flag to change for each cause grpc-js reports', () => {
    const inUse = 'No address added out of total 1 resolved errors: [listen EADDRINUSE: address already in use 127.0.0.1:50051]';
    expect(grpcBindFailure('127.0.0.1', 50051, inUse)).to.equal(
      'cannot listen on 127.0.0.1:50051: the port is in use; choose another port with --port',
    );
    const notHere = 'No address added out of total 1 resolved errors: [listen EADDRNOTAVAIL: address not available 10.255.255.1]';
    expect(grpcBindFailure('10.255.255.1', 0, notHere)).to.equal(
      'cannot listen on 10.255.255.1:0: 10.255.255.1 is no address of this machine; check --host',
    );
    expect(grpcBindFailure('ocr.invalid', 50051, 'Name resolution failed for target dns:ocr.invalid:50051')).to.equal(
      'cannot listen on ocr.invalid:50051: the name ocr.invalid does not resolve; check --host',
    );
    expect(
      grpcBindFailure('0.0.0.0', 80, 'No address added out of total 1 resolved errors: [listen EACCES: permission denied 0.0.0.0:80]'),
    ).to.match(/not permitted .*--port$/);
  });

  it("keeps grpc-js's words for a cause it does not know", () => {
    expect(grpcBindFailure('h', 1, 'something else')).to.equal('cannot listen on h:1: something else');
  });
});

describe('httpListenFailure', () => {
  it("names the flag to change for Node's listen errors", () => {
    const inUse = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), { code: 'EADDRINUSE' });
    expect(httpListenFailure('127.0.0.1', 8080, inUse)).to.equal(
      'cannot serve HTTP on 127.0.0.1:8080: the port is in use; choose another port with --http-port',
    );
    const unknown = Object.assign(new Error('getaddrinfo ENOTFOUND gw.invalid'), { code: 'ENOTFOUND' });
    expect(httpListenFailure('gw.invalid', 8080, unknown)).to.equal(
      'cannot serve HTTP on gw.invalid:8080: the name gw.invalid does not resolve; check --host',
    );
    expect(httpListenFailure('h', 1, new Error('other'))).to.equal('cannot serve HTTP on h:1: other');
  });
});
