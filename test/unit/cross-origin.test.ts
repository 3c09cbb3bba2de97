import { expect } from 'chai';
import { corsOptions, parseOrigin } from '../../src/http/cross-origin.js';

describe('parseOrigin', () => {
  it('takes an origin as a browser sends it, or *', () => {
    for (const origin of ['https://portal.example', 'http://localhost:8080', 'http://10.0.0.7:3000', '*']) {
      expect(parseOrigin(origin)).to.equal(origin);
    }
  });

  it('refuses what no browser sends as an origin, saying how to write it', () => {
    expect(() => parseOrigin('https://portal.example/')).to.throw(
      "'https://portal.example/' is not an origin (did you mean https://portal.example?): write it as https://host or http://host:port, with no path, or * for any",
    );
    expect(() => parseOrigin('https://portal.example:443')).to.throw(/did you mean https:\/\/portal\.example\?/);
    for (const value of ['portal.example', 'ftp://portal.example', '']) {
      expect(() => parseOrigin(value), value).to.throw(/is not an origin: write it as/);
    }
  });
});

describe('corsOptions', () => {
  it('lets the pages read a refusal’s Retry-After and a token challenge; * stands for any origin', () => {
    expect(corsOptions(['https://a.example', 'https://b.example'])).to.include({ maxAge: 600 });
    expect(corsOptions(['https://a.example']).exposedHeaders).to.include.members(['retry-after', 'www-authenticate']);
    expect(corsOptions(['https://a.example', '*']).origin).to.equal('*');
  });
});
