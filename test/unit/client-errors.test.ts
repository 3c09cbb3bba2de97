import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import { CONNECTION_LOST, OcrClient, OcrCallError, toOcrCallError } from '../../src/client/index.js';
import {
  expiredServer,
  HTTP1_SERVER,
  misnamedServer,
  PLAINTEXT_TO_TLS,
  refusedClientCertificate,
  TLS_TO_PLAINTEXT,
  unreachable,
  untrustedServer,
} from '../../src/client/errors.js';
import { freePort } from '../../src/dev/free-port.js';
import { solidImage } from '../support/images.js';

const serviceError = (code: Status, details: string): ServiceError =>
  Object.assign(new Error(details), { code, details, metadata: new Metadata() });

describe('OcrCallError descriptions', () => {
  it("gives the innermost reason of least_request's and pick_first's no-connection wording, and what to do", () => {
    const nested =
      'least_request: no connection established; last error: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:50199. Resolution note: ';
    expect(toOcrCallError(serviceError(Status.UNAVAILABLE, nested)).details).to.equal(unreachable('connect ECONNREFUSED 127.0.0.1:50199'));
    const pickFirst = 'No connection established. Last error: Error: getaddrinfo ENOTFOUND ocr.internal. Resolution note: ';
    expect(toOcrCallError(serviceError(Status.UNAVAILABLE, pickFirst)).details).to.equal(unreachable('getaddrinfo ENOTFOUND ocr.internal'));
    expect(toOcrCallError(serviceError(Status.UNAVAILABLE, 'round_robin: No connection established. Last error: null')).details).to.equal(
      unreachable(null),
    );
  });

  it('says to connect with TLS where a plaintext client met a TLS server, and without where a TLS client met a plaintext one', () => {
    const closed = 'No connection established. Last error: Failed to connect (2026-12-06T16:49:54.008Z). Resolution note: ';
    expect(toOcrCallError(serviceError(Status.UNAVAILABLE, closed)).details).to.equal(PLAINTEXT_TO_TLS);
    const notTls =
      'least_request: no connection established; last error: No connection established. Last error: Error: 801CE25AE47F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n. Resolution note: ';
    expect(toOcrCallError(serviceError(Status.UNAVAILABLE, notTls)).details).to.equal(TLS_TO_PLAINTEXT);
  });

  it("says to use the gRPC port where the target names an HTTP/1.1 server, as an instance's HTTP port", async () => {
    const web = http.createServer((_request, response) => response.end('<html></html>')).listen(0, '127.0.0.1');
    await once(web, 'listening');
    const client = new OcrClient(`127.0.0.1:${(web.address() as AddressInfo).port}`, { deadlineMs: 10_000 });
    try {
      const err = await client.getServerInfo().then(
        () => expect.fail('an HTTP/1.1 server answered a gRPC call'),
        (e: unknown) => e as OcrCallError,
      );
      expect(err.code).to.equal('UNAVAILABLE');
      expect(err.details).to.equal(HTTP1_SERVER);
    } finally {
      client.close();
      web.close();
    }
  });

  it("says which TLS setting to change where the client rejected the server's certificate: its CA, its name, its dates", () => {
    const failed = (reason: string): string =>
      toOcrCallError(serviceError(Status.UNAVAILABLE, `No connection established. Last error: Error: ${reason}. Resolution note: `))
        .details;
    for (const reason of [
      'self-signed certificate in certificate chain',
      'unable to get local issuer certificate',
      'unable to verify the first certificate',
    ]) {
      expect(failed(reason)).to.equal(untrustedServer(reason)).and.to.contain('--tls-ca FILE');
    }
    const altnames = "Hostname/IP does not match certificate's altnames: IP: 10.0.0.7 is not in the cert's list:";
    expect(failed(`Error [ERR_TLS_CERT_ALTNAME_INVALID]: ${altnames}`))
      .to.equal(misnamedServer(altnames))
      .and.to.contain('--tls-server-name NAME');
    expect(failed('certificate has expired')).to.equal(expiredServer('certificate has expired'));
  });

  it('says to give the client a certificate where a server requiring one (mutual TLS) refused it, not to connect with TLS', () => {
    // grpc-js's wording, met against ocr serve --tls-client-ca: no certificate, then one of another CA.
    const required =
      'No connection established. Last error: 80ACE12EA67F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116\n (2026-12-07T06:48:01.087Z). Resolution note: ';
    expect(toOcrCallError(serviceError(Status.UNAVAILABLE, required)).details)
      .to.equal(refusedClientCertificate('tlsv13 alert certificate required'))
      .and.to.contain('--tls-cert FILE');
    for (const alert of ['tlsv1 alert unknown ca', 'sslv3 alert bad certificate', 'sslv3 alert certificate expired']) {
      const details = `No connection established. Last error: Error: 40F7:error:0A000418:SSL routines:ssl3_read_bytes:${alert}:ssl/record/rec_layer_s3.c:1605:SSL alert number 48. Resolution note: `;
      expect(toOcrCallError(serviceError(Status.UNAVAILABLE, details)).details).to.equal(refusedClientCertificate(alert));
    }
    // Closed after the handshake, with no alert read: a plaintext client's case, or a TLS client's refused certificate.
    expect(PLAINTEXT_TO_TLS).to.contain('--tls-cert');
  });

  it("says what a call that lost its connection (closed, or found dead by keepalive) can do, in place of grpc-js's wording", () => {
    expect(toOcrCallError(serviceError(Status.UNAVAILABLE, 'Connection dropped')).details).to.equal(CONNECTION_LOST);
  });

  it("says a target whose name did not resolve reached no server, and what to check, in place of grpc-js's bare wording", () => {
    for (const target of ['dns:ocr.internl:50051', 'dns:///ocr.internl:50051']) {
      expect(toOcrCallError(serviceError(Status.UNAVAILABLE, `Name resolution failed for target ${target}`)).details, target).to.equal(
        unreachable('ocr.internl:50051 did not resolve to an address'),
      );
    }
  });

  it("keeps a server's own UNAVAILABLE description, and any other status's", () => {
    const draining = 'the server is shutting down; send the call to another instance';
    expect(toOcrCallError(serviceError(Status.UNAVAILABLE, draining)).details).to.equal(draining);
    expect(toOcrCallError(serviceError(Status.INVALID_ARGUMENT, 'No connection established')).details).to.equal(
      'No connection established',
    );
  });

  it('tells a caller whose target has no server listening that none could be reached, and why', async () => {
    const port = await freePort();
    const client = new OcrClient(`127.0.0.1:${port}`, { deadlineMs: 10_000 });
    try {
      const err = await client.recognize(await solidImage(64, 64)).then(
        () => expect.fail('a call with no server answered'),
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(OcrCallError);
      expect((err as OcrCallError).code).to.equal('UNAVAILABLE');
      expect((err as OcrCallError).details).to.equal(unreachable(`connect ECONNREFUSED 127.0.0.1:${port}`));
    } finally {
      client.close();
    }
  });
});
