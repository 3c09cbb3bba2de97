import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import { chromium, type Browser, type Page } from 'playwright-core';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';

/** Debian's chromium: the test never downloads a browser. */
const CHROMIUM = '/usr/bin/chromium';
const LINE = readFileSync(path.join(EVAL_DEV, 'lines', 'l0000.png'));

interface Outcome {
  status?: number;
  code?: number;
  text?: string;
  msg?: string;
  /** The fetch's own error: the browser kept the page from the answer. */
  blocked?: string;
}

/** From `page`, a POST of the line image to `url` as a web app would send it, with a token header that needs a preflight. */
async function callFrom(page: Page, url: string): Promise<Outcome> {
  return page.evaluate(
    async ([url, base64]) => {
      const body = new FormData();
      body.append('image', new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], { type: 'image/png' }), 'line.png');
      try {
        const res = await fetch(url, { method: 'POST', body, headers: { 'ocr-priority': 'interactive' } });
        const json = (await res.json()) as { code: number; msg: string; data?: { text: string }[] };
        return { status: res.status, code: json.code, msg: json.msg, text: json.data?.[0]?.text ?? '' };
      } catch (err) {
        return { blocked: String(err) };
      }
    },
    [url, LINE.toString('base64')] as const,
  );
}

/** A page on another origin (a portal, say) calling the HTTP API from Debian's chromium. */
describe('HTTP API called from another origin, in a browser', function () {
  this.timeout(120_000);
  let portal: http.Server;
  let portalPort: number;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let api: string;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it with 'apt-get install -y chromium' (.ci/run does).`);
    portal = http.createServer((_req, res) => res.setHeader('content-type', 'text/html').end('<!doctype html><title>portal</title>'));
    portal.listen(0, '127.0.0.1');
    await once(portal, 'listening');
    portalPort = (portal.address() as AddressInfo).port;
    server = await spawnServer(['--cors-origin', `http://127.0.0.1:${portalPort}`]);
    api = `http://127.0.0.1:${server.httpPort}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage();
  });

  after(async () => {
    await browser?.close();
    server?.child.kill('SIGKILL');
    portal?.close();
  });

  it('answers a page of an origin named with --cors-origin, refusals included', async () => {
    await page.goto(`http://127.0.0.1:${portalPort}/`);
    const read = await callFrom(page, `${api}/api/ocr/lines`);
    expect(read, JSON.stringify(read)).to.include({ status: 200, code: 0 });
    expect(read.text).to.contain('各区县人民政府');
    // A refusal reaches the page with its reason, not as a network error.
    const refused = await callFrom(page, `${api}/api/ocr/lines?min_confidence=2`);
    expect(refused, JSON.stringify(refused)).to.include({ status: 400, code: 3 });
    expect(refused.msg).to.match(/min_confidence/);
  });

  it('answers a plain OPTIONS 204 with Allow, and a preflight as CORS does', async () => {
    const plain = await fetch(`${api}/api/ocr`, { method: 'OPTIONS' });
    expect([plain.status, plain.headers.get('allow')]).to.deep.equal([204, 'POST, OPTIONS']);
    const origin = `http://127.0.0.1:${portalPort}`;
    const preflight = await fetch(`${api}/api/ocr`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
    expect(preflight.status).to.equal(204);
    expect(preflight.headers.get('access-control-allow-origin')).to.equal(origin);
  });

  it('keeps the answers from a page of any other origin', async () => {
    // localhost is another origin than 127.0.0.1, though the same server.
    await page.goto(`http://localhost:${portalPort}/`);
    const outcome = await callFrom(page, `${api}/api/ocr/lines`);
    expect(outcome.blocked, JSON.stringify(outcome)).to.match(/Failed to fetch/);
  });
});
