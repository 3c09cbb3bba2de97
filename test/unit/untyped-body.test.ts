import { expect } from 'chai';
import { lineBreaksDropped, untypedBody } from '../../src/http/request-images.js';

describe('untypedBody (a body read as the image itself, its bytes deciding)', () => {
  it("takes a body without a Content-Type, or with a form's, sent with a length or chunked", () => {
    expect(untypedBody({ 'content-length': '5000' })).to.equal('');
    expect(untypedBody({ 'transfer-encoding': 'chunked' })).to.equal('');
    expect(untypedBody({ 'content-length': '5000', 'content-type': 'application/x-www-form-urlencoded' })).to.equal(
      'application/x-www-form-urlencoded',
    );
    expect(untypedBody({ 'content-length': '5000', 'content-type': 'Application/X-WWW-Form-Urlencoded; charset=UTF-8' })).to.equal(
      'application/x-www-form-urlencoded',
    );
  });

  it('leaves an empty body, and any other type, to the answer it had', () => {
    expect(untypedBody({})).to.equal(null);
    expect(untypedBody({ 'content-length': '0' })).to.equal(null);
    expect(untypedBody({ 'content-length': '0', 'content-type': 'application/x-www-form-urlencoded' })).to.equal(null);
    for (const type of ['image/jpeg', 'application/octet-stream', 'application/json', 'text/plain', 'multipart/form-data; boundary=b']) {
      expect(untypedBody({ 'content-length': '5000', 'content-type': type }), type).to.equal(null);
    }
  });
});

describe('lineBreaksDropped (curl -d @file)', () => {
  it('tells a file without a CR or LF byte in its first 4 KiB or more from one with them, or too short to tell', () => {
    const file = Buffer.alloc(8192, 0x41);
    expect(lineBreaksDropped(file)).to.equal(true);
    expect(lineBreaksDropped(Buffer.concat([file, Buffer.of(0x0a)]))).to.equal(false);
    expect(lineBreaksDropped(Buffer.concat([Buffer.of(0x0d), file]))).to.equal(false);
    expect(lineBreaksDropped(Buffer.alloc(4095, 0x41))).to.equal(false);
  });
});
