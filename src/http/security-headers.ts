/**
 * The headers a security review of an exposed web service looks for, on every answer of the HTTP
 * port: the service's own policy rather than one each proxy in front must remember to add.
 */

/**
 * The Web UI's Content-Security-Policy: what it is built to work under (README, "Web UI"): nothing
 * from elsewhere, no inline script or style, the images chosen shown from blob: URLs; framed by its
 * own origin only (clickjacking), its form never sent elsewhere. Also on the API's answers, which
 * hold no page to protect and are not affected by it.
 */
export const PAGE_POLICY =
  "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/**
 * /docs is swagger-ui, which styles itself inline as it renders and draws its icons from data: URLs:
 * its policy allows those and no more. Without one, a script injected into the page (as swagger-ui's
 * past advisories did through a spec's text) would run, and could send a token entered there anywhere.
 */
export const DOCS_POLICY =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

const DOCS_PREFIX = '/docs';

const COMMON_HEADERS = Object.freeze({
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'SAMEORIGIN',
});
const PAGE_HEADERS = Object.freeze({ ...COMMON_HEADERS, 'content-security-policy': PAGE_POLICY });
const DOCS_HEADERS = Object.freeze({ ...COMMON_HEADERS, 'content-security-policy': DOCS_POLICY });

/**
 * The headers of an answer to `url`: never sniffed into another type than it says (a JSON answer
 * run as a script, an upload shown as a page); no Referer sent to other sites; framed by its own
 * origin only (for browsers that predate frame-ancestors too); the page's policy, or under /docs the docs'.
 */
export function securityHeaders(url: string): Readonly<Record<string, string>> {
  const path = url.split('?', 1)[0]!;
  return path === DOCS_PREFIX || path.startsWith(`${DOCS_PREFIX}/`) ? DOCS_HEADERS : PAGE_HEADERS;
}

/**
 * The page's headers as lines of an answer written to the socket by hand (a malformed request, plain
 * HTTP on the HTTPS port): no route, no hook, yet an answer of the port like any other.
 */
export const RAW_SECURITY_HEADER_LINES = Object.entries(PAGE_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');
