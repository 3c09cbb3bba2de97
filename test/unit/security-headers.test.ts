import { expect } from 'chai';
import { DOCS_POLICY, PAGE_POLICY, securityHeaders } from '../../src/http/security-headers.js';

describe('security headers', () => {
  const common = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'SAMEORIGIN' };

  it("give every answer the page's policy but /docs and what lies under it, which have the docs', and every answer the rest", () => {
    for (const url of ['/', '/index.html', '/app.js', '/api/ocr?max_side_len=960', '/docsx', '/nothing']) {
      expect(securityHeaders(url), url).to.deep.equal({ ...common, 'content-security-policy': PAGE_POLICY });
    }
    for (const url of ['/docs', '/docs/', '/docs/static/index.html', '/docs?x=1']) {
      expect(securityHeaders(url), url).to.deep.equal({ ...common, 'content-security-policy': DOCS_POLICY });
    }
  });
});
