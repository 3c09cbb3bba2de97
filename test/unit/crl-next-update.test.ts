import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { crlNextUpdate } from '../../src/server/crl-next-update.js';
import { makePki, type TestPki } from '../support/certificates.js';

/** A PEM CRL's DER. */
const der = (pem: string): Buffer => Buffer.from(pem.replace(/-----[^-]+-----/g, ''), 'base64');

describe('crlNextUpdate', () => {
  let pki: TestPki;
  before(() => (pki = makePki()));
  after(() => pki?.remove());

  it('reads the nextUpdate openssl ca wrote, to the second, with and without revoked entries', () => {
    for (const [name, revoked, hours] of [
      ['none.crl', [], 72],
      ['one.crl', [pki.client], 5],
    ] as const) {
      const before = Date.now();
      const file = pki.crl(name, [...revoked], hours);
      const next = crlNextUpdate(der(readFileSync(file, 'latin1')));
      expect(next, name).to.be.instanceOf(Date);
      // openssl writes whole seconds of the time asked, which was taken just before.
      expect(next!.getTime(), name).to.be.within(before + hours * 3600_000 - 1000, Date.now() + hours * 3600_000);
    }
  });
});
