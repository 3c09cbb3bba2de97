import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { chromium, type Browser, type BrowserContext, type Locator, type Page, type Request, type Route } from 'playwright-core';
import sharp, { type Sharp } from 'sharp';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { EVAL_DEV, ROOT } from '../../src/dev/repo-paths.js';
import { spawnGateway, spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { gatewayDeadlinePassed } from '../../src/http/cluster-backend.js';
import { RETRY_AFTER } from '../../src/http/failure.js';
import { tooLarge } from '../../src/shared/image-limit.js';
import { textImage } from '../support/images.js';

/** Debian's chromium: the test never downloads a browser. */
const CHROMIUM = '/usr/bin/chromium';
const RECEIPT = path.join(EVAL_DEV, 'docs', 'd004_receipt.jpg');
const SCREENSHOT = path.join(ROOT, 'docs', 'web-ui.png');

/** The ground truth and the UI write punctuation in full or half width, and spaces differently. */
const normalize = (text: string): string => text.normalize('NFKC').replace(/\s/g, '');

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

async function box(locator: Locator): Promise<Box> {
  const b = await locator.boundingBox();
  if (!b) throw new Error(`${locator.toString()} is not displayed`);
  return b;
}

/** Where a box lies within another, as fractions of that one's size. */
const within = (inner: Box, outer: Box): number[] => [
  (inner.x - outer.x) / outer.width,
  (inner.y - outer.y) / outer.height,
  inner.width / outer.width,
  inner.height / outer.height,
];

interface Contrast {
  text: string;
  /** WCAG 2's contrast ratio of the text's colour against what is painted behind it. */
  ratio: number;
  /** The relative luminance of what is behind it: 0 black, 1 white. */
  background: number;
}

/**
 * Run in the page on elements: each one's text colour against its background, the backgrounds of
 * its ancestors painted under it where its own is not opaque (a string: the tests compile without the DOM's types).
 */
const CONTRAST = `((elements) => {
  const rgba = (css) => { const [r, g, b, a = 1] = css.match(/[\\d.]+/g).map(Number); return [r, g, b, a]; };
  const over = ([r, g, b, a], [R, G, B]) => [r * a + R * (1 - a), g * a + G * (1 - a), b * a + B * (1 - a)];
  const linear = (v) => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4);
  const luminance = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const background = (element) => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const layer = rgba(getComputedStyle(e).backgroundColor);
      if (layer[3] > 0) layers.push(layer);
      if (layer[3] === 1) break;
    }
    return layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255]);
  };
  return elements.map((element) => {
    const behind = background(element);
    const [a, b] = [luminance(over(rgba(getComputedStyle(element).color), behind)), luminance(behind)];
    return { text: element.textContent.trim().slice(0, 40), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), background: b };
  });
})`;

/** The contrast of the text of each element `selector` matches in `page`. */
const contrasts = async (page: Page, selector: string): Promise<Contrast[]> =>
  (await page.evaluate(`${CONTRAST}([...document.querySelectorAll(${JSON.stringify(selector)})])`)) as Contrast[];

/** A name the browser resolves to the loopback address (--host-resolver-rules): the server as if on another machine. */
const NAMED_HOST = 'ocr.test';

/** A phone: 360 by 640 CSS pixels at three device pixels each, touch and no mouse. */
const PHONE = { viewport: { width: 360, height: 640 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true };

/** The Web UI at `/` in Debian's chromium, against a real server: upload, read, hover, download, errors, phone width. */
describe('Web UI in a browser', function () {
  this.timeout(300_000);
  let server: ServerProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let receipt: Locator;
  let base: string;

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: the Web UI test drives Debian's chromium. Install it with 'apt-get install -y chromium' (.ci/run does).`,
      );
    }
    // ocr.test: the server by a name, as a device reaches one over its network (loopback is reached offline too).
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', `--host-resolver-rules=MAP ${NAMED_HOST} 127.0.0.1`],
    });
    server = await spawnServer();
    base = `http://127.0.0.1:${server.httpPort}`;
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    // Every state a result passes through, for the progress assertions.
    await context.addInitScript(`
      window.states = [];
      new MutationObserver((records) => records.forEach((r) => window.states.push(r.target.dataset.state)))
        .observe(document, { subtree: true, attributeFilter: ['data-state'] });
      // The object URLs not yet revoked, for the memory assertions.
      window.liveUrls = new Set();
      const create = URL.createObjectURL;
      const revoke = URL.revokeObjectURL;
      URL.createObjectURL = (object) => { const url = create(object); window.liveUrls.add(url); return url; };
      URL.revokeObjectURL = (url) => { window.liveUrls.delete(url); revoke(url); };
    `);
    page = await context.newPage();
    await page.goto(`${base}/`);
    await page.setInputFiles('#file', RECEIPT);
    receipt = page.locator('.result', { has: page.locator('.name', { hasText: 'd004_receipt.jpg' }) });
    await page.locator('.result:is([data-state="done"], [data-state="error"])').waitFor({ timeout: 120_000 });
    expect(await receipt.getAttribute('data-state'), (await receipt.locator('.status').textContent()) ?? '').to.equal('done');
  });

  /** A page of its own whose /api/ocr is answered by `answer` (n: the request's number, from 1): what a server rarely says. */
  async function routedPage(answer: (route: Route, n: number) => Promise<void>): Promise<{ routed: Page; requests: () => number }> {
    const routed = await context.newPage();
    let n = 0;
    await routed.route('**/api/ocr', (route) => answer(route, ++n));
    await routed.goto(`${base}/`);
    return { routed, requests: () => n };
  }

  /** A blank image: the routed pages' answers do not depend on it. */
  const blank = async (name: string): Promise<{ name: string; mimeType: string; buffer: Buffer }> => ({
    name,
    mimeType: 'image/png',
    buffer: await sharp({ create: { width: 20, height: 10, channels: 3, background: '#fff' } })
      .png()
      .toBuffer(),
  });

  /** Dispatches `event` ('drop' or 'paste') on `target` in `on`, carrying a DataTransfer `data` that the script `fill` fills. */
  const transfer = (on: Page, target: string, event: 'drop' | 'paste', fill: string): Promise<unknown> =>
    on.evaluate(`(() => {
      const data = new DataTransfer();
      ${fill};
      const init = { bubbles: true, cancelable: true, ${event === 'drop' ? 'dataTransfer' : 'clipboardData'}: data };
      document.querySelector(${JSON.stringify(target)}).dispatchEvent(${event === 'drop' ? 'new DragEvent' : 'new ClipboardEvent'}('${event}', init));
    })()`);

  /** Drops the files or folders at `paths` on `on`'s drop zone as a file manager does (DevTools' Input.dispatchDragEvent), a folder as a folder. */
  async function dropPaths(on: Page, paths: string[]): Promise<void> {
    const cdp = await on.context().newCDPSession(on);
    const zone = await box(on.locator('.drop'));
    const at = { x: zone.x + zone.width / 2, y: zone.y + zone.height / 2 };
    const data = { items: [], files: paths, dragOperationsMask: 1 };
    for (const type of ['dragEnter', 'dragOver', 'drop'] as const) await cdp.send('Input.dispatchDragEvent', { type, ...at, data });
    await cdp.detach();
  }

  /** The name of the image a request to /api/ocr sends. */
  const sentName = (request: Request): string | undefined => /filename="([^"]+)"/.exec(request.postDataBuffer()!.toString('latin1'))?.[1];

  /** A script that makes a File of `file` in the page. */
  const fileInPage = (file: { name: string; mimeType: string; buffer: Buffer }): string =>
    `new File([Uint8Array.from(atob('${file.buffer.toString('base64')}'), (c) => c.charCodeAt(0))], ${JSON.stringify(file.name)}, { type: '${file.mimeType}' })`;

  /** An answer of one line, no timings and no instance: what the routed pages answer for a blank image. */
  const hello = {
    code: 0,
    msg: 'success',
    data: [
      {
        text: 'hello',
        confidence: 0.5,
        box: [
          [2, 2],
          [18, 2],
          [18, 8],
          [2, 8],
        ],
      },
    ],
    width: 20,
    height: 10,
  };

  const busy = { code: 8, msg: 'the server is busy: retry after the time in Retry-After', error: 'RESOURCE_EXHAUSTED' };

  /** What a person is told of a 504 from the server: its own words name timeout_ms, which the page does not send. */
  const stoppedInTime =
    'the server could not read the image in the time it allows (504); Send again, or send a smaller image, or set a lower “Longest side the detector sees” under Options';

  /** A page of its own, in a context with `options`, that has read the receipt: its card once done. */
  async function readInContext(options: Parameters<Browser['newContext']>[0]): Promise<{ own: BrowserContext; card: Locator }> {
    const own = await browser.newContext(options);
    const ownPage = await own.newPage();
    await ownPage.goto(`${base}/`);
    await ownPage.setInputFiles('#file', RECEIPT);
    const card = ownPage.locator('.result', { has: ownPage.locator('.name', { hasText: 'd004_receipt.jpg' }) });
    await card.and(ownPage.locator(':is([data-state="done"], [data-state="error"])')).waitFor({ timeout: 120_000 });
    expect(await card.getAttribute('data-state'), (await card.locator('.status').textContent()) ?? '').to.equal('done');
    return { own, card };
  }

  after(async () => {
    await browser?.close();
    server?.child.kill('SIGKILL');
  });

  it('shows the upload and the recognition as they go', async () => {
    const states = (await page.evaluate('window.states')) as string[];
    expect(states.filter((state, i) => state !== states[i - 1])).to.deep.equal(['uploading', 'recognizing', 'done']);
    expect(await receipt.locator('progress').isVisible()).to.equal(false);
    expect(await receipt.locator('progress').getAttribute('aria-label')).to.equal('d004_receipt.jpg: progress');
  });

  it('lists the lines read, most of the ground truth among them', async () => {
    const truth = (JSON.parse(readFileSync(path.join(EVAL_DEV, 'docs', 'gt.json'), 'utf8')) as Record<string, { text: string }[]>)[
      'd004_receipt.jpg'
    ]!;
    const read = new Set((await receipt.locator('.lines .text').allTextContents()).map(normalize));
    const found = truth.filter((line) => read.has(normalize(line.text)));
    expect(found.length / truth.length, `found ${found.length} of ${truth.length} lines`).to.be.at.least(0.9);
    const count = await receipt.locator('.lines li').count();
    expect(await receipt.locator('.status').textContent()).to.match(new RegExp(`^${count} lines read in \\d+\\.\\d\\d s\\.$`));
  });

  it('draws each line’s box over the image, and places the line beside it where its box is', async () => {
    const items = await receipt.locator('.lines li').all();
    const polygons = await receipt.locator('.boxes polygon').all();
    expect(polygons).to.have.length(items.length);
    const image = await box(receipt.locator('img'));
    const panel = await box(receipt.locator('.lines'));
    // Side by side at desktop width, at the same scale.
    expect(panel.x).to.be.greaterThan(image.x + image.width - 1);
    expect(panel.width / image.width).to.be.closeTo(1, 0.02);
    for (const [i, item] of items.entries()) {
      const drawn = within(await box(polygons[i]!), image);
      const placed = within(await box(item), panel);
      for (const [k, fraction] of drawn.entries()) {
        expect(fraction).to.be.within(0, 1);
        expect(placed[k], `line ${i} (${await item.textContent()})`).to.be.closeTo(fraction, 0.01);
      }
      expect(await item.locator('.confidence').textContent()).to.match(/^ confidence \d{1,3}\.\d%$/);
    }
  });

  it('tells a screen reader nothing of a blank page where the image is shown', async () => {
    // Its figure is named by nothing, its image for itself; the caption of a blank page was read as the figure's name.
    expect(await receipt.locator('.page').ariaSnapshot()).to.equal(
      `- figure:\n  - img "d004_receipt.jpg, with the ${await receipt.locator('.lines li').count()} text boxes outlined"`,
    );
  });

  it('highlights a line’s box when the line is hovered, and the line when its box is', async () => {
    const item = receipt.locator('.lines li').nth(2);
    const polygon = receipt.locator('.boxes polygon').nth(2);
    await item.hover();
    expect(await polygon.getAttribute('class')).to.equal('active');
    expect(await receipt.locator('.boxes polygon.active').count()).to.equal(1);
    expect(await item.locator('.confidence').isVisible()).to.equal(true);
    await receipt.locator('.boxes polygon').nth(5).hover();
    expect(await receipt.locator('.lines li').nth(5).getAttribute('class')).to.contain('active');
    expect(await polygon.getAttribute('class')).to.equal('');
  });

  it('saves a screenshot for the README', async () => {
    await page.setViewportSize({ width: 1024, height: 768 });
    await receipt.locator('.lines li').nth(3).hover();
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).to.equal(true);
  });

  it('reaches the lines by keyboard, with a visible focus that lights the box', async () => {
    await page.mouse.move(0, 0);
    await page.locator('#file').focus();
    await page.keyboard.press('Tab'); // the options' summary
    await page.keyboard.press('Tab');
    expect(await receipt.getByRole('radio', { name: 'As on the page' }).and(page.locator(':focus')).count()).to.equal(1);
    // The actions come before the lines, so that a long page's need not be scrolled past.
    for (const control of [receipt.getByRole('button', { name: 'Copy text' }), receipt.getByRole('link', { name: 'Download TXT' })]) {
      await page.keyboard.press('Tab');
      expect(await control.and(page.locator(':focus')).count(), control.toString()).to.equal(1);
    }
    await page.keyboard.press('Tab'); // Download JSON
    await page.keyboard.press('Tab');
    expect(await receipt.locator('.lines li:first-child:focus').count()).to.equal(1);
    expect(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')).to.equal('solid');
    expect(await receipt.locator('.boxes polygon').first().getAttribute('class')).to.equal('active');
  });

  it('passes an image’s lines with one Tab, the arrow keys moving among them', async () => {
    const lines = receipt.locator('.lines li');
    const focused = async (locator: Locator): Promise<boolean> => (await locator.and(page.locator(':focus')).count()) === 1;
    await lines.first().focus();
    await page.keyboard.press('Shift+Tab');
    expect(await focused(receipt.getByRole('link', { name: 'Download JSON' }))).to.equal(true);
    await page.keyboard.press('Tab');
    expect(await focused(lines.first())).to.equal(true);
    await page.keyboard.press('Tab');
    expect(await receipt.locator('.lines :focus').count(), 'a line focused after Tab').to.equal(0);
    await page.keyboard.press('Shift+Tab');
    expect(await focused(lines.first())).to.equal(true);
    await page.keyboard.press('ArrowDown');
    expect(await focused(lines.nth(1))).to.equal(true);
    expect(await receipt.locator('.boxes polygon').nth(1).getAttribute('class')).to.equal('active');
    await page.keyboard.press('End');
    expect(await focused(lines.last())).to.equal(true);
    // Back into the list, Tab comes to the line last focused.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Shift+Tab');
    expect(await focused(lines.last())).to.equal(true);
    await page.keyboard.press('Home');
    expect(await focused(lines.first())).to.equal(true);
  });

  it('hides a lit line’s confidence label, which covers what lies above it, on Escape, the pointer and the focus left where they are', async () => {
    const lines = receipt.locator('.lines li');
    // The opacity of each lit line's label.
    const labels = async (): Promise<string[]> =>
      (await page.evaluate(
        `[...document.querySelectorAll('.lines li.active .confidence')].map((label) => getComputedStyle(label).opacity)`,
      )) as string[];
    await page.locator('#file').focus();
    await lines.nth(2).hover();
    expect(await labels()).to.deep.equal(['1']);
    await page.keyboard.press('Escape');
    expect(await labels()).to.deep.equal(['0']);
    // Lit again, it shows its label again.
    await page.mouse.move(0, 0);
    await lines.nth(2).hover();
    expect(await labels()).to.deep.equal(['1']);
    await page.mouse.move(0, 0);
    await lines.nth(3).focus();
    expect(await labels()).to.deep.equal(['1']);
    await page.keyboard.press('Escape');
    expect(await labels()).to.deep.equal(['0']);
    expect(await lines.nth(3).and(page.locator(':focus')).count()).to.equal(1);
    await page.keyboard.press('ArrowDown');
    expect(await labels()).to.deep.equal(['1']);
    // The lines' tab stop back on the first, as the tests after expect.
    await page.keyboard.press('Home');
  });

  it('leaves axe-core nothing to report, a document read, at desktop and at phone width', async () => {
    // axe-core's rules (WCAG 2.x A and AA, and its best practices), injected past the page's own
    // Content-Security-Policy, which refuses scripts of any other origin.
    const axe = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
    for (const viewport of [
      { width: 1280, height: 900 },
      { width: 390, height: 844 },
    ]) {
      const { own, card } = await readInContext({ viewport, bypassCSP: true });
      const read = card.page();
      await read.addScriptTag({ path: axe });
      const violations = (await read.evaluate(
        `axe.run().then((r) => r.violations.map((v) => v.id + ': ' + v.help + ' (' + v.nodes.map((n) => n.target.join(' ')).join(', ') + ')'))`,
      )) as string[];
      expect(violations, `at ${viewport.width} px`).to.deep.equal([]);
      await own.close();
    }
  });

  it('marks the lines in Chinese as such, so that a screen reader speaks them with a Chinese voice', async () => {
    const lines = await Promise.all(
      (await receipt.locator('.lines .text').all()).map(
        async (text) => [(await text.textContent()) ?? '', (await text.getAttribute('lang')) ?? ''] as const,
      ),
    );
    const han = /\p{Script=Han}/u;
    expect(lines.filter(([text]) => han.test(text)).length).to.be.greaterThan(10);
    expect(lines.filter(([text]) => !han.test(text)).length).to.be.greaterThan(10);
    for (const [text, lang] of lines) expect(lang, text).to.equal(han.test(text) ? 'zh' : '');
  });

  it('shows the instance id and the timings, copies the text and downloads it as TXT and JSON', async () => {
    const timings = await receipt.locator('.timings dt').allTextContents();
    expect(timings).to.deep.equal(['Instance', 'Queue', 'Decode', 'Detect', 'Classify', 'Recognize', 'Total']);
    expect(await receipt.locator('.timings dd').first().textContent()).to.equal(server.instanceId);
    const lines = await receipt.locator('.lines .text').allTextContents();

    await receipt.getByRole('button', { name: 'Copy text' }).click();
    await receipt.locator('.status', { hasText: 'Text copied.' }).waitFor();
    expect(await page.evaluate('navigator.clipboard.readText()')).to.equal(lines.join('\n'));

    // Clicked, or by the keyboard: they look like buttons, so Space works as Enter does.
    const download = async (name: string, key?: string): Promise<{ file: string; text: string }> => {
      const link = receipt.getByRole('link', { name });
      if (key) await link.focus();
      const [file] = await Promise.all([page.waitForEvent('download'), key ? page.keyboard.press(key) : link.click()]);
      return { file: file.suggestedFilename(), text: readFileSync(await file.path(), 'utf8') };
    };
    const txt = await download('Download TXT');
    expect(txt).to.deep.equal({ file: 'd004_receipt.txt', text: `${lines.join('\n')}\n` });
    expect(await download('Download TXT', 'Enter')).to.deep.equal(txt);
    const scrolled = await page.evaluate('scrollY');
    expect(await download('Download TXT', ' ')).to.deep.equal(txt);
    expect(await page.evaluate('scrollY'), 'the page scrolled by Space').to.equal(scrolled);
    const json = await download('Download JSON', ' ');
    expect(json.file).to.equal('d004_receipt.json');
    const answer = JSON.parse(json.text) as { code: number; data: { text: string; box: number[][] }[]; width: number; instance_id: string };
    expect(answer.code).to.equal(0);
    expect(answer.instance_id).to.equal(server.instanceId);
    expect(answer.data.map((line) => line.text)).to.deep.equal(lines);
  });

  it('shows the TXT opened in a tab (a middle click on Download TXT) in its Chinese, not as Windows-1252', async () => {
    const lines = await receipt.locator('.lines .text').allTextContents();
    const tab = await context.newPage();
    await tab.goto((await receipt.getByRole('link', { name: 'Download TXT' }).getAttribute('href'))!);
    expect(await tab.evaluate('document.body.innerText.trim()')).to.equal(lines.join('\n'));
    await tab.close();
  });

  it('takes several files at once, and shows the server’s message for each it refuses', async () => {
    const files = [
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image\n') },
      { name: 'empty.png', mimeType: 'image/png', buffer: Buffer.alloc(0) },
    ];
    // What the server answers each, asked directly.
    const messages = await Promise.all(
      files.map(async (file) => {
        const form = new FormData();
        form.append('image', new Blob([file.buffer], { type: file.mimeType }), file.name);
        return ((await (await fetch(`${base}/api/ocr`, { method: 'POST', body: form })).json()) as { msg: string }).msg;
      }),
    );
    expect(messages[0]).to.contain('is not a');
    expect(messages[1]).to.contain('is empty');
    await page.setInputFiles('#file', files);
    for (const [i, file] of files.entries()) {
      const refused = page.locator('.result', { has: page.locator('.name', { hasText: file.name }) });
      await refused.locator('.status', { hasText: 'Error' }).waitFor();
      expect(await refused.getAttribute('data-state')).to.equal('error');
      expect(await refused.locator('.status').textContent()).to.equal(`Error: ${messages[i]}`);
      // Told once, naming the image, in the page's log; the card's status is not live as well.
      expect(await refused.locator('.status').getAttribute('role')).to.equal(null);
      expect(await page.getByRole('log').textContent()).to.contain(`${file.name}: Error: ${messages[i]}`);
      expect(await refused.locator('.panes').isVisible()).to.equal(false);
    }
    // Sent again, a file that is no image (415) is refused again whatever the options: that is not offered.
    const notes = page.locator('.result', { has: page.locator('.name', { hasText: 'notes.txt' }) });
    expect(await notes.getByRole('button', { name: 'Send again' }).isHidden()).to.equal(true);
  });

  it('says what to try on an image where no text is found, and offers no text to copy or download', async () => {
    const white = await sharp({ create: { width: 600, height: 400, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    // A page of its own: its status names "Options", which the tests after look for by its text.
    const own = await context.newPage();
    await own.goto(`${base}/`);
    await own.setInputFiles('#file', { name: 'no-text.png', mimeType: 'image/png', buffer: white });
    const card = own.locator('.result');
    await card.and(own.locator(':is([data-state="done"], [data-state="error"])')).waitFor({ timeout: 120_000 });
    expect(await card.locator('.status').textContent()).to.match(
      /^No text found in \d+\.\d\d s\. If the image has some, try a larger “Longest side the detector sees” or a lower “Leave out lines read with confidence below” under Options\.$/,
    );
    expect(await card.getByRole('button', { name: 'Copy text' }).isHidden()).to.equal(true);
    expect(await card.getByRole('link', { name: 'Download TXT' }).isHidden()).to.equal(true);
    expect(await card.getByRole('link', { name: 'Download JSON' }).isVisible()).to.equal(true);
    await own.close();
  });

  it('offers a screen reader no switch of the lines’ view and no empty list where no text is found', async () => {
    const white = await sharp({ create: { width: 600, height: 400, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const own = await context.newPage();
    await own.goto(`${base}/`);
    await own.setInputFiles('#file', { name: 'blank-page.png', mimeType: 'image/png', buffer: white });
    const card = own.locator('.result');
    await card.and(own.locator(':is([data-state="done"], [data-state="error"])')).waitFor({ timeout: 120_000 });
    expect(await card.getAttribute('data-state')).to.equal('done');
    const seen = await card.ariaSnapshot();
    expect(seen, 'the view switch').not.to.contain('radio');
    expect(seen, 'the list of lines').not.to.match(/- list\b/);
    expect(seen).to.contain('link "Download JSON"');
    await own.close();
  });

  it('names an image with one box or none in words that fit, for a screen reader', async () => {
    const { routed } = await routedPage((route, n) => route.fulfill({ json: n === 1 ? hello : { ...hello, data: [] } }));
    for (const [name, alt] of [
      ['one.png', 'one.png, with the 1 text box outlined'],
      ['none.png', 'none.png, where no text was found'],
    ] as const) {
      await routed.setInputFiles('#file', await blank(name));
      const card = routed.locator('.result', { has: routed.locator('.name', { hasText: name }) });
      await card.and(routed.locator('[data-state="done"]')).waitFor();
      expect(await card.locator('img').getAttribute('alt')).to.equal(alt);
    }
    await routed.close();
  });

  it('sends the options as form fields, the server’s defaults shown as placeholders', async () => {
    await page.getByText('Options').click();
    const maxSide = page.getByLabel('Longest side the detector sees');
    expect(await maxSide.getAttribute('placeholder')).to.equal('960 (server default)');
    await maxSide.fill('5');
    await page.setInputFiles('#file', { name: 'small-side.jpg', mimeType: 'image/jpeg', buffer: readFileSync(RECEIPT) });
    const refused = page.locator('.result', { has: page.locator('.name', { hasText: 'small-side.jpg' }) });
    await refused.locator('.status', { hasText: 'Error' }).waitFor();
    expect(await refused.locator('.status').textContent()).to.match(/^Error: options\.max_side_len is 5; it must lie in \[32, 8192\]/);
    await maxSide.fill('');
  });

  it('sends a number written with an exponent as the number it is, and says so where an option is no number, rather than reading the image without it', async () => {
    const own = await context.newPage();
    let sent = 0;
    own.on('request', (request) => void (request.url().endsWith('/api/ocr') && (sent += 1)));
    await own.goto(`${base}/`);
    await own.getByText('Options').click();
    const minConfidence = own.getByLabel('Leave out lines read with confidence below');
    const card = own.locator('.result').first();
    const finished = async (): Promise<string> => {
      await card.and(own.locator(':is([data-state="done"], [data-state="error"])')).waitFor({ timeout: 120_000 });
      return (await card.locator('.status').textContent()) ?? '';
    };
    // A number field takes 5e-1, which the server, reading plain decimals only, refused as no number.
    await minConfidence.fill('5e-1');
    await own.setInputFiles('#file', { name: 'exponent.jpg', mimeType: 'image/jpeg', buffer: readFileSync(RECEIPT) });
    expect(await finished()).to.match(/ lines read in /);
    expect(sent).to.equal(1);
    // "1e" is no number: the field has no value, and the image was read with the server's default, nothing said.
    await minConfidence.fill('');
    await minConfidence.pressSequentially('1e');
    await own.getByLabel('Longest side the detector sees').focus();
    await own.setInputFiles('#file', { name: 'no-number.jpg', mimeType: 'image/jpeg', buffer: readFileSync(RECEIPT) });
    expect(await finished()).to.equal(
      "Error: “Leave out lines read with confidence below” under Options is not a number; enter one, or empty it for the server's default, then Send again",
    );
    expect(sent, 'requests to api/ocr').to.equal(1);
    expect(await minConfidence.and(own.locator(':focus')).count(), 'the field focused').to.equal(1);
    await own.close();
  });

  it('places the lines of a page found turned as on the upright page', async () => {
    const turned = await sharp(readFileSync(RECEIPT)).rotate(90).jpeg().toBuffer();
    await page.setInputFiles('#file', { name: 'turned.jpg', mimeType: 'image/jpeg', buffer: turned });
    const card = page.locator('.result', { has: page.locator('.name', { hasText: 'turned.jpg' }) });
    await card.locator('.status', { hasText: /read|Error/ }).waitFor({ timeout: 120_000 });
    expect(await card.locator('.status').textContent()).to.contain('(the page was turned 90°)');
    const image = await box(card.locator('img'));
    const panel = await box(card.locator('.lines'));
    expect(panel.height / panel.width).to.be.closeTo(image.width / image.height, 0.02);
    const items = await card.locator('.lines li').all();
    const polygons = await card.locator('.boxes polygon').all();
    expect(items.length).to.be.greaterThan(10);
    for (const [i, item] of items.entries()) {
      // The page turned back a quarter turn anticlockwise: the image's top is the page's left.
      const [x, y, width, height] = within(await box(polygons[i]!), image) as [number, number, number, number];
      const placed = within(await box(item), panel);
      // The image is short here: its boxes' strokes (3 px) are 1 % of its height.
      for (const [k, fraction] of [y, 1 - x - width, height, width].entries()) {
        expect(placed[k], `line ${i} (${await item.textContent()}), ${k}`).to.be.closeTo(fraction, 0.02);
      }
    }
  });

  it('names the keys that paste on the reader’s keyboard: Ctrl+V, or ⌘V on an Apple device', async () => {
    expect(await page.locator('#paste-keys').textContent()).to.equal('Ctrl+V');
    const mac = await browser.newContext({
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    });
    try {
      const macPage = await mac.newPage();
      await macPage.goto(base);
      expect(await macPage.locator('#paste-keys').textContent()).to.equal('⌘V');
    } finally {
      await mac.close();
    }
  });

  it('says so when the server answers from its result cache, rather than "read in 0.00 s"', async () => {
    const cached = await spawnServer(['--cache', 'memory']);
    const own = await browser.newContext();
    try {
      const again = await own.newPage();
      await again.goto(`http://127.0.0.1:${cached.httpPort}/`);
      for (const sent of [1, 2]) {
        await again.setInputFiles('#file', RECEIPT);
        // Each image's card comes first, above those before it; waited for before the same image is sent again.
        const done = again.locator('.result:is([data-state="done"], [data-state="error"])');
        await done.nth(sent - 1).waitFor({ timeout: 120_000 });
        expect(await done.count()).to.equal(sent);
      }
      const [second, first] = await again.locator('.result .status').allTextContents();
      expect(first).to.match(/^\d+ lines read in \d+\.\d\d s\.$/);
      expect(second).to.match(/^\d+ lines read, from the server’s cache \(the same image was read before\)\.$/);
    } finally {
      await own.close();
      cached.child.kill('SIGKILL');
    }
  });

  it('keeps no object URL once the images are shown, but those of the downloads', async () => {
    await page.waitForFunction(`(() => {
      const links = new Set([...document.querySelectorAll('a[download]')].map((a) => a.href));
      return [...window.liveUrls].every((url) => links.has(url));
    })()`);
  });

  it('waits and sends again by itself while the server is busy (429, 503), saying so', async () => {
    const { routed, requests } = await routedPage(async (route, n) => {
      if (n === 1) return route.fulfill({ status: 429, headers: { 'retry-after': '1' }, json: busy });
      if (n === 2)
        return route.fulfill({
          status: 503,
          json: { code: 14, msg: 'draining: send the request to another instance', error: 'UNAVAILABLE' },
        });
      return route.continue();
    });
    await routed.setInputFiles('#file', RECEIPT);
    await routed.locator('.result:is([data-state="done"], [data-state="error"])').waitFor({ timeout: 120_000 });
    expect(await routed.locator('.result').getAttribute('data-state')).to.equal('done');
    expect(requests()).to.equal(3);
    const states = (await routed.evaluate('window.states')) as string[];
    expect(states.filter((state, i) => state !== states[i - 1] && state === 'retrying')).to.have.length(2);
    const log = await routed.getByRole('log').textContent();
    // In a person's words: the server's are for scripts, which read Retry-After and send to another instance.
    expect(log).to.contain('d004_receipt.jpg: the server is busy; trying again in 1 s (try 2 of 5).');
    expect(log).to.contain(
      'd004_receipt.jpg: the server cannot read images just now (it is starting, stopping or without an instance to read them); trying again in 2 s (try 3 of 5).',
    );
    await routed.close();
  });

  it('gives up after five tries or when asked to wait over a minute, saying when to send the image again', async () => {
    const { routed, requests } = await routedPage((route) => route.fulfill({ status: 429, headers: { 'retry-after': '0' }, json: busy }));
    await routed.setInputFiles('#file', await blank('a.png'));
    await routed.locator('.result[data-state="error"]').waitFor({ timeout: 60_000 });
    expect(requests()).to.equal(5);
    expect(await routed.locator('.status').textContent()).to.equal(
      'Error: the server is busy, still after 5 tries; Send again in a moment',
    );
    await routed.close();

    const later = await routedPage((route) => route.fulfill({ status: 429, headers: { 'retry-after': '120' }, json: busy }));
    await later.routed.setInputFiles('#file', await blank('b.png'));
    await later.routed.locator('.result[data-state="error"]').waitFor({ timeout: 60_000 });
    expect(later.requests()).to.equal(1);
    expect(await later.routed.locator('.status').textContent()).to.equal('Error: the server is busy; Send again in 2 min');
    await later.routed.close();
  });

  it('tells a person what to do where the server’s words are for scripts: the wait a quota asks, a deadline passed at a gateway', async () => {
    // Over a quota: its reason kept, the server's advice (read Retry-After) left to the page, which waits.
    const overQuota = {
      code: 8,
      msg: `over the quota of key:ci: 2 calls a second, 2 at most at once; ${RETRY_AFTER}`,
      error: 'RESOURCE_EXHAUSTED',
    };
    const { routed } = await routedPage((route, n) =>
      n === 1 ? route.fulfill({ status: 429, headers: { 'retry-after': '1' }, json: overQuota }) : route.fulfill({ json: hello }),
    );
    await routed.setInputFiles('#file', await blank('quota.png'));
    await routed.locator('.result[data-state="done"]').waitFor({ timeout: 60_000 });
    expect(await routed.getByRole('log').textContent()).to.contain(
      'quota.png: over the quota of key:ci: 2 calls a second, 2 at most at once; trying again in 1 s (try 2 of 5).',
    );
    await routed.close();

    // A gateway whose deadline, for requests without timeout_ms (the page sends none), every image outlasts.
    const gateway = await spawnGateway(['--target', `ipv4:127.0.0.1:${server.port}`, '--deadline-ms', '1']);
    try {
      const viaGateway = await context.newPage();
      await viaGateway.goto(`${gateway.url}/`);
      const answered = viaGateway.waitForResponse('**/api/ocr');
      await viaGateway.setInputFiles('#file', RECEIPT);
      const answer = await answered;
      expect(answer.status()).to.equal(504);
      expect(((await answer.json()) as { msg: string }).msg).to.equal(gatewayDeadlinePassed(1));
      await viaGateway.locator('.result[data-state="error"]').waitFor();
      expect(await viaGateway.locator('.result .status').textContent()).to.equal(`Error: ${stoppedInTime}`);
      expect(await viaGateway.locator('.result').getByRole('button', { name: 'Send again' }).isVisible()).to.equal(true);
      await viaGateway.close();
    } finally {
      gateway.child.kill('SIGKILL');
    }
  });

  it('says what helps an upload too slow for the server (408) over a phone’s link, rather than "send it without pausing"', async () => {
    // The server's answer once 120 s have passed with the request not arrived whole (request-timeout.ts).
    const tooSlow = {
      code: 4,
      msg: "the request did not arrive whole within 120 s, the server's limit; send it without pausing",
      error: 'DEADLINE_EXCEEDED',
    };
    const { routed } = await routedPage((route) => route.fulfill({ status: 408, json: tooSlow }));
    await routed.setInputFiles('#file', await blank('photo.png'));
    await routed.locator('.result[data-state="error"]').waitFor();
    expect(await routed.locator('.result .status').textContent()).to.equal(
      'Error: the upload took longer than the server waits for one (408); send a smaller image (scaled down, cropped, or saved as JPEG), or Send again over a faster connection',
    );
    expect(await routed.locator('.result').getByRole('button', { name: 'Send again' }).isVisible()).to.equal(true);
    await routed.close();
  });

  it('sends again by itself after a proxy in front answers 502, as while the server’s container is replaced', async () => {
    const { routed, requests } = await routedPage((route, n) =>
      n === 1
        ? route.fulfill({ status: 502, contentType: 'text/html', body: '<html><body><h1>502 Bad Gateway</h1></body></html>' })
        : route.fulfill({ json: hello }),
    );
    await routed.setInputFiles('#file', await blank('proxied.png'));
    await routed.locator('.result:is([data-state="done"], [data-state="error"])').waitFor({ timeout: 60_000 });
    expect(await routed.locator('.result .status').textContent()).to.equal('1 line read.');
    expect(requests()).to.equal(2);
    expect(await routed.getByRole('log').textContent()).to.contain(
      'proxied.png: the server answered 502 Bad Gateway; trying again in 1 s (try 2 of 5).',
    );
    await routed.close();
  });

  it('says what a proxy in front meant by a page of its own (nginx’s 413 and 504), and what to do, rather than "the server answered 413"', async () => {
    const nginx = (route: Route, status: number, title: string): Promise<void> =>
      route.fulfill({
        status,
        contentType: 'text/html',
        body: `<html><head><title>${status} ${title}</title></head><body><center><h1>${status} ${title}</h1></center><hr><center>nginx</center></body></html>`,
      });
    const { routed } = await routedPage((route, n) =>
      n === 1 ? nginx(route, 413, 'Request Entity Too Large') : nginx(route, 504, 'Gateway Time-out'),
    );
    const said = async (name: string): Promise<{ status: string | null; again: boolean }> => {
      await routed.setInputFiles('#file', await blank(name));
      const card = routed.locator('.result', { has: routed.locator('.name', { hasText: name }) });
      await card.and(routed.locator('[data-state="error"]')).waitFor();
      return {
        status: await card.locator('.status').textContent(),
        again: await card.getByRole('button', { name: 'Send again' }).isVisible(),
      };
    };
    expect(await said('photo.png')).to.deep.equal({
      status:
        'Error: a proxy in front of the server refused the image as too large (413), before the server saw it; send a smaller image, or ask the proxy’s operator to allow larger uploads (nginx: client_max_body_size)',
      again: false,
    });
    expect(await said('slow.png')).to.deep.equal({
      status:
        'Error: a proxy in front of the server stopped waiting for its answer (504); Send again, or send a smaller image, or set a lower “Longest side the detector sees” under Options',
      again: true,
    });
    await routed.close();
  });

  it('waits for the network where the device is offline, and sends the image once it is back, rather than spending its five tries', async () => {
    const own = await browser.newContext();
    const ownPage = await own.newPage();
    await ownPage.goto(`http://${NAMED_HOST}:${server.httpPort}/`);
    await own.setOffline(true);
    await ownPage.setInputFiles('#file', await blank('offline.png'));
    const card = ownPage.locator('.result');
    // Offline, or failed after its tries (15 s) as before.
    await card.locator('.status', { hasText: /offline|Error/ }).waitFor({ timeout: 60_000 });
    expect(await card.locator('.status').textContent()).to.equal('This device is offline; the image goes again once it is back online.');
    expect(await card.getAttribute('data-state')).to.equal('retrying');
    expect(await ownPage.getByRole('log').textContent()).to.contain('offline.png: This device is offline');
    await own.setOffline(false);
    await card.and(ownPage.locator('[data-state="done"]')).waitFor();
    await own.close();
  });

  it('gives up as before on a server on this machine that does not answer, offline or not: loopback needs no network', async () => {
    const own = await browser.newContext();
    const ownPage = await own.newPage();
    let sent = 0;
    await ownPage.route('**/api/ocr', (route) => {
      sent += 1;
      return route.abort('connectionrefused');
    });
    await ownPage.goto(`${base}/`);
    await ownPage.evaluate(`Object.defineProperty(navigator, 'onLine', { get: () => false })`);
    await ownPage.setInputFiles('#file', await blank('local.png'));
    await ownPage.locator('.result[data-state="error"]').waitFor({ timeout: 60_000 });
    expect(sent).to.equal(5);
    expect(await ownPage.locator('.status').textContent()).to.match(/^Error: no answer from the server in 5 tries: check that it runs/);
    await own.close();
  });

  it('gives up on a server that never answers after five tries, saying what to check', async () => {
    const { routed, requests } = await routedPage((route) => route.abort('connectionrefused'));
    await routed.setInputFiles('#file', await blank('gone.png'));
    await routed.locator('.result[data-state="error"]').waitFor({ timeout: 60_000 });
    expect(requests()).to.equal(5);
    expect(await routed.locator('.status').textContent()).to.equal(
      'Error: no answer from the server in 5 tries: check that it runs and that this computer reaches it, then Send again',
    );
    await routed.close();
  });

  it('says that a file moved since it was chosen can no longer be read, rather than sending it five times and blaming the server', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-web-moved-'));
    const chosen = path.join(dir, 'moved.png');
    writeFileSync(chosen, (await blank('moved.png')).buffer);
    const timeout = { code: 4, msg: 'timeout_ms passed: send a longer timeout_ms', error: 'DEADLINE_EXCEEDED' };
    const { routed } = await routedPage((route, n) => (n === 1 ? route.fulfill({ status: 504, json: timeout }) : route.continue()));
    // Chosen by its path, as a person chooses it: the browser reads the file from disk as it sends it.
    await routed.setInputFiles('#file', chosen);
    const card = routed.locator('.result');
    await card.and(routed.locator('[data-state="error"]')).waitFor();
    renameSync(chosen, path.join(dir, 'elsewhere.png'));
    await card.getByRole('button', { name: 'Send again' }).click();
    await routed.locator('#log p', { hasText: 'moved.png: Error:' }).nth(1).waitFor({ timeout: 60_000 });
    expect(await card.locator('.status').textContent()).to.equal(
      'Error: this browser can no longer read the file: it was moved, renamed or deleted since it was chosen; choose it again where it is now',
    );
    // Sent again, it would fail again: choosing it again is what helps.
    expect(await card.getByRole('button', { name: 'Send again' }).isHidden()).to.equal(true);
    await routed.close();
  });

  it('cancels an image waiting its turn, being read or waiting to be sent again, and sends it again on request', async () => {
    // Every request held until the test answers it, so that each image is cancelled in the state meant.
    const held: Route[] = [];
    const arrived: (() => void)[] = [];
    const { routed } = await routedPage(async (route) => {
      held.push(route);
      arrived.shift()?.();
    });
    const nextRequest = (): Promise<Route> => new Promise((resolve) => arrived.push(() => resolve(held.at(-1)!)));
    const card = (name: string): Locator => routed.locator('.result', { has: routed.locator('.name', { hasText: name }) });
    const firstTwo = [nextRequest(), nextRequest()];
    await routed.setInputFiles('#file', await Promise.all(['a.png', 'b.png', 'c.png'].map(blank)));
    const [toA, toB] = await Promise.all(firstTwo);
    expect([sentName(toA!.request()), sentName(toB!.request())]).to.deep.equal(['a.png', 'b.png']);

    // c.png waits its turn (two are sent at once): cancelled, it is never sent.
    expect(await card('c.png').getAttribute('data-state')).to.equal('waiting');
    expect(await card('c.png').getByRole('button', { name: 'Cancel' }).count(), 'a Cancel on a card waiting').to.equal(1);
    await card('c.png').getByRole('button', { name: 'Cancel' }).click();
    expect(await card('c.png').getAttribute('data-state')).to.equal('cancelled');
    expect(await card('c.png').locator('.status').textContent()).to.equal('Cancelled, not read.');
    expect(await card('c.png').getByRole('button', { name: 'Cancel' }).isHidden()).to.equal(true);
    expect(await card('c.png').getByRole('button', { name: 'Send again' }).isVisible()).to.equal(true);

    // a.png, being read, by the keyboard: its request is aborted, and Send again takes the focus.
    const aborted = routed.waitForEvent('requestfailed');
    await card('a.png').getByRole('button', { name: 'Cancel' }).focus();
    await routed.keyboard.press('Enter');
    expect((await aborted).failure()?.errorText).to.equal('net::ERR_ABORTED');
    expect(await card('a.png').getAttribute('data-state')).to.equal('cancelled');
    expect(await card('a.png').getByRole('button', { name: 'Send again' }).and(routed.locator(':focus')).count()).to.equal(1);
    await toB!.fulfill({ json: hello });
    await card('b.png').and(routed.locator('[data-state="done"]')).waitFor();
    expect(await card('b.png').getByRole('button', { name: 'Cancel' }).isHidden()).to.equal(true);

    // Sent again, a.png is the next request (c.png, cancelled while waiting, was not sent); told to wait, it is cancelled while it waits.
    let next = nextRequest();
    await routed.keyboard.press('Enter');
    const again = await next;
    expect(sentName(again.request())).to.equal('a.png');
    await again.fulfill({ status: 429, headers: { 'retry-after': '30' }, json: busy });
    await card('a.png').and(routed.locator('[data-state="retrying"]')).waitFor();
    await card('a.png').getByRole('button', { name: 'Cancel' }).click();
    expect(await card('a.png').getAttribute('data-state')).to.equal('cancelled');
    next = nextRequest();
    await card('a.png').getByRole('button', { name: 'Send again' }).click();
    await (await next).fulfill({ json: hello });
    await card('a.png').and(routed.locator('[data-state="done"]')).waitFor();
    expect(held).to.have.length(4);
    const log = await routed.getByRole('log').textContent();
    expect(log).to.contain('c.png: cancelled.');
    expect(log).to.contain('a.png: cancelled.');
    await routed.close();
  });

  it('cancels every image on its way with one button, saying so once, and sends none of them', async () => {
    // Every request held, unanswered: the images are on their way until cancelled.
    const { routed } = await routedPage(() => Promise.resolve());
    const all = routed.getByRole('button', { name: /^Cancel the \d+ images not read yet$/ });
    expect(await all.isHidden(), 'Cancel all with no image on its way').to.equal(true);
    await routed.setInputFiles('#file', await Promise.all(['a.png', 'b.png', 'c.png', 'd.png'].map(blank)));
    await routed.getByRole('button', { name: 'Cancel the 4 images not read yet' }).click();
    for (const card of await routed.locator('.result').all()) expect(await card.getAttribute('data-state')).to.equal('cancelled');
    expect(await all.isHidden()).to.equal(true);
    expect(await routed.locator('#file:focus').count(), 'the focus on Choose images').to.equal(1);
    const log = await routed.getByRole('log').locator('p').allTextContents();
    expect(log.filter((line) => /cancel/i.test(line))).to.deep.equal(['Cancelled 4 images.']);
    // Sent again, d.png is the next request: c.png, before it in the queue, was not sent.
    const next = routed.waitForRequest('**/api/ocr');
    await routed
      .locator('.result', { has: routed.locator('.name', { hasText: 'd.png' }) })
      .getByRole('button', { name: 'Send again' })
      .click();
    expect(sentName(await next)).to.equal('d.png');
    await routed.close();
  });

  it('shows an answer without timings or instance without them, and goes on to the next images', async () => {
    const { routed } = await routedPage((route) => route.fulfill({ json: hello }));
    await routed.setInputFiles('#file', await Promise.all(['a.png', 'b.png', 'c.png'].map(blank)));
    for (const card of await routed.locator('.result').all()) {
      await card.and(routed.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
      expect(await card.locator('.status').textContent()).to.equal('1 line read.');
      expect(await card.locator('.timings').textContent()).to.equal('');
      expect(await card.locator('.lines').textContent()).to.equal('hello confidence 50.0%');
    }
    await routed.close();
  });

  it('keeps the keyboard’s place in the card when an image is sent again, and says so', async () => {
    const timeout = { code: 4, msg: 'timeout_ms passed: send a longer timeout_ms', error: 'DEADLINE_EXCEEDED' };
    const { routed } = await routedPage((route, n) =>
      n === 1 ? route.fulfill({ status: 504, json: timeout }) : route.fulfill({ json: hello }),
    );
    await routed.setInputFiles('#file', await blank('again.png'));
    const card = routed.locator('.result');
    await card.and(routed.locator('[data-state="error"]')).waitFor();
    expect(await card.locator('.status').textContent()).to.equal(`Error: ${stoppedInTime}`);
    await card.getByRole('button', { name: 'Send again' }).focus();
    await routed.keyboard.press('Enter');
    await card.and(routed.locator('[data-state="done"]')).waitFor();
    // The button pressed is gone: the focus goes to the card's name, not to the top of the page.
    expect(await card.getByRole('heading', { name: 'again.png' }).and(routed.locator(':focus')).count()).to.equal(1);
    expect(await routed.getByRole('log').textContent()).to.contain('Reading again.png again.');
    await routed.close();
  });

  it('copies the text where the page has no clipboard API (plain HTTP) without losing the keyboard’s place', async () => {
    const own = await browser.newContext();
    try {
      // A page served over plain HTTP from another host is no secure context: it has no navigator.clipboard.
      await own.addInitScript(`Object.defineProperty(Navigator.prototype, 'clipboard', { get: () => undefined });`);
      const insecure = await own.newPage();
      await insecure.route('**/api/ocr', (route) => route.fulfill({ json: hello }));
      await insecure.goto(`${base}/`);
      await insecure.setInputFiles('#file', await blank('insecure.png'));
      const card = insecure.locator('.result[data-state="done"]');
      const copy = card.getByRole('button', { name: 'Copy text' });
      await copy.focus();
      await insecure.keyboard.press('Enter');
      await card.locator('.status', { hasText: 'Text copied.' }).waitFor();
      expect(await copy.and(insecure.locator(':focus')).count(), 'Copy text focused once copied').to.equal(1);
    } finally {
      await own.close();
    }
  });

  it('draws the boxes of an image the browser cannot show (TIFF) on a blank page of its size, saying so', async () => {
    const { routed } = await routedPage((route) => route.fulfill({ json: hello }));
    const tiff = await sharp({ create: { width: 20, height: 10, channels: 3, background: '#fff' } })
      .tiff()
      .toBuffer();
    await routed.setInputFiles('#file', { name: 'scan.tif', mimeType: 'image/tiff', buffer: tiff });
    const card = routed.locator('.result');
    await card.and(routed.locator('[data-state="done"]')).waitFor();
    const page = await box(card.locator('.boxes'));
    expect(page.width / page.height, 'the blank page, width / height').to.be.closeTo(2, 0.02);
    const drawn = within(await box(card.locator('.boxes polygon')), page);
    const placed = within(await box(card.locator('.lines li')), await box(card.locator('.lines')));
    for (const [k, fraction] of [0.1, 0.2, 0.8, 0.6].entries()) {
      expect(drawn[k], `the box, ${k}`).to.be.closeTo(fraction, 0.02);
      expect(placed[k], `the line, ${k}`).to.be.closeTo(fraction, 0.02);
    }
    expect(await card.locator('figcaption').textContent()).to.contain('cannot show this image');
    expect(
      await card
        .getByRole('figure', { name: 'This browser cannot show this image: its boxes are drawn on a blank page of its size.' })
        .count(),
    ).to.equal(1);
    await routed.close();
  });

  it('draws the boxes on a blank page where the browser shows the image turned otherwise than the server read it', async () => {
    // An EXIF orientation the page could not read: the server turns the image upright (20 × 40), the browser shows it as stored (40 × 20).
    const { routed } = await routedPage((route) => route.fulfill({ json: { ...hello, width: 20, height: 40 } }));
    const stored = await sharp({ create: { width: 40, height: 20, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    await routed.setInputFiles('#file', { name: 'turned.webp', mimeType: 'image/png', buffer: stored });
    const card = routed.locator('.result');
    await card.and(routed.locator('[data-state="done"]')).waitFor();
    const page = await box(card.locator('.boxes'));
    expect(page.width / page.height, 'the blank page, width / height').to.be.closeTo(0.5, 0.01);
    expect(await card.locator('figcaption').textContent()).to.contain('turned otherwise');
    await routed.close();
  });

  it('shows an image turned or mirrored by its EXIF orientation as the server reads it, in a format whose orientation the browser ignores (WebP) too, its box on its text', async () => {
    // A line at the top left of a page: stored as a camera leaves it, turned or mirrored, its orientation saying how to show it.
    const upright = await sharp({ create: { width: 600, height: 400, channels: 3, background: '#fff' } })
      .composite([{ input: await textImage('HELLO', 200, 48), left: 0, top: 0 }])
      .png()
      .toBuffer();
    const stored: Record<number, (image: Sharp) => Sharp> = {
      2: (image) => image.flop(),
      3: (image) => image.rotate(180),
      6: (image) => image.rotate(270),
    };
    // JPEG and PNG, which Chromium turns itself, must not be turned twice.
    const kinds: ['webp' | 'jpeg' | 'png', number][] = [
      ['webp', 2],
      ['webp', 3],
      ['webp', 6],
      ['jpeg', 3],
      ['png', 6],
    ];
    const files = await Promise.all(
      kinds.map(async ([format, orientation]) => ({
        name: `orientation-${orientation}.${format}`,
        mimeType: `image/${format}`,
        buffer: await stored[orientation]!(sharp(upright)).toFormat(format).withMetadata({ orientation }).toBuffer(),
      })),
    );
    const own = await context.newPage();
    await own.goto(`${base}/`);
    await own.setInputFiles('#file', files);
    await own
      .locator('.result:is([data-state="done"], [data-state="error"])')
      .nth(files.length - 1)
      .waitFor({ timeout: 120_000 });
    expect(await own.locator('.result:not([data-state="done"]) .status').allTextContents(), 'the images not read').to.deep.equal([]);
    // The share of dark pixels of the picture shown within each card's box, once the picture is loaded.
    const inkUnderBoxes = `Promise.all([...document.querySelectorAll('.result')].map(async (card) => {
      const img = card.querySelector('.page img');
      await img.decode();
      const canvas = Object.assign(document.createElement('canvas'), { width: img.naturalWidth, height: img.naturalHeight });
      const context = canvas.getContext('2d');
      context.drawImage(img, 0, 0);
      const points = card.querySelector('.boxes polygon').getAttribute('points').split(' ').map((p) => p.split(',').map(Number));
      const [xs, ys] = [points.map((p) => p[0]), points.map((p) => p[1])];
      const [left, top] = [Math.min(...xs), Math.min(...ys)];
      const pixels = context.getImageData(left, top, Math.max(...xs) - left, Math.max(...ys) - top).data;
      let dark = 0;
      for (let i = 0; i < pixels.length; i += 4) if (pixels[i] < 128) dark += 1;
      return { name: card.querySelector('.name').textContent, shown: card.querySelector('.page').className, ink: dark / (pixels.length / 4) };
    }))`;
    const cards = (await own.evaluate(inkUnderBoxes)) as { name: string; shown: string; ink: number }[];
    expect(cards).to.have.length(files.length);
    for (const card of cards) {
      expect(card.shown, `${card.name}: the picture itself, not a blank page`).to.equal('page');
      // The text's strokes cover about a quarter of its box; drawn where the picture has none, nothing.
      expect(card.ink, `${card.name}: the dark share of the picture under its box`).to.be.above(0.1);
    }
    await own.close();
  });

  it('shows a banner’s lines in reading order first, where placed as on the page they would be too small to read', async () => {
    // A line 3,400 px wide and 40 px tall: placed as on the page in a 600 px column, its type would be 5 px.
    const line = { ...hello.data[0]!, text: '这是一行很长的中文文本用于测试网页界面在显示长行时是否会出现问题', confidence: 0.99 };
    const banner = {
      ...hello,
      width: 3400,
      height: 120,
      data: [
        {
          ...line,
          box: [
            [0, 40],
            [3400, 40],
            [3400, 80],
            [0, 80],
          ],
        },
      ],
    };
    const { routed } = await routedPage((route, n) => route.fulfill({ json: n === 1 ? banner : hello }));
    await routed.setInputFiles('#file', [await blank('banner.png'), await blank('small.png')]);
    const card = (name: string): Locator =>
      routed.locator('.result[data-state="done"]', { has: routed.locator('.name', { hasText: name }) });
    await card('small.png').waitFor();
    expect(await card('banner.png').getAttribute('data-view')).to.equal('list');
    expect(await card('banner.png').getByRole('radio', { name: 'In reading order' }).isChecked()).to.equal(true);
    const size = (await routed.evaluate(
      `parseFloat(getComputedStyle([...document.querySelectorAll('.result')].find((c) => c.querySelector('.name').textContent === 'banner.png').querySelector('.lines .text')).fontSize)`,
    )) as number;
    expect(size, 'the banner’s type, px').to.be.at.least(14);
    // An image whose lines are big enough is shown as on the page, as before.
    expect(await card('small.png').getAttribute('data-view')).to.equal('page');
    await routed.close();
  });

  it('refuses a file over the server’s limit at once, saying so, rather than after uploading it whole', async () => {
    const limited = await context.newPage();
    let sent = 0;
    // A limit of 1 MiB an image, as `ocr serve --max-message-mb 1` tells it.
    await limited.route('**/api/info', async (route) => {
      const info = (await (await route.fetch()).json()) as { data: { limits: Record<string, number> } };
      info.data.limits.max_message_bytes = 1024 * 1024;
      await route.fulfill({ json: info });
    });
    await limited.route('**/api/ocr', (route) => (sent++, route.fulfill({ json: hello })));
    await limited.goto(`${base}/`);
    await limited.locator('#max_side_len[placeholder]').waitFor({ state: 'attached' });
    const big = { name: 'big.png', mimeType: 'image/png', buffer: Buffer.alloc(1.5 * 1024 * 1024) };
    await limited.setInputFiles('#file', [big, await blank('small.png')]);
    const card = (name: string): Locator => limited.locator('.result', { has: limited.locator('.name', { hasText: name }) });
    await card('small.png').and(limited.locator('[data-state="done"]')).waitFor();
    await card('big.png').and(limited.locator('[data-state="error"]')).waitFor();
    expect(await card('big.png').locator('.status').textContent()).to.equal(
      "Error: the image is 1.5 MiB, larger than this server's limit of 1 MiB an image; scale it down, crop it, or save it smaller (as JPEG)",
    );
    expect(sent, 'images sent').to.equal(1);
    expect(await card('big.png').getByRole('button', { name: 'Send again' }).isHidden(), 'Send again offered').to.equal(true);
    await limited.close();

    // The server's own refusal, where the page did not know the limit: its words send a script to
    // tiles over gRPC or the CLI's --tile-size, neither of which a person in a browser has.
    const refusal = { code: 8, msg: tooLarge(1024 * 1024, false), error: 'RESOURCE_EXHAUSTED' };
    const { routed } = await routedPage((route) => route.fulfill({ status: 413, json: refusal }));
    await routed.setInputFiles('#file', await blank('scan.png'));
    await routed.locator('.result[data-state="error"]').waitFor();
    expect(await routed.locator('.result .status').textContent()).to.equal(
      "Error: the request is larger than this server's limit of 1 MiB an image; scale it down, crop it, or save it smaller (as JPEG)",
    );
    await routed.close();
  });

  it('refuses an image over the server’s pixel limit before sending it, in a person’s words, and leaves one the browser cannot read (TIFF) to the server', async () => {
    const info = (await (await fetch(`${base}/api/info`)).json()) as { data: { limits: { max_pixels: number } } };
    const limit = info.data.limits.max_pixels;
    // One row over the limit, of one colour: a large photo's pixels in a file of a few hundred KiB.
    const [width, height] = [7000, Math.ceil(limit / 7000) + 1];
    const solid = sharp({ create: { width, height, channels: 3, background: '#fff' } });
    const png = { name: 'large.png', mimeType: 'image/png', buffer: await solid.clone().png().toBuffer() };
    const tiff = { name: 'large.tif', mimeType: 'image/tiff', buffer: await solid.clone().tiff({ compression: 'deflate' }).toBuffer() };
    // What the server says of it, once it has it whole.
    const form = new FormData();
    form.append('image', new Blob([png.buffer]), png.name);
    const refusal = await fetch(`${base}/api/ocr`, { method: 'POST', body: form });
    expect(refusal.status).to.equal(413);
    const serverWords = ((await refusal.json()) as { msg: string }).msg;
    const reason = serverWords.slice(0, serverWords.indexOf(';'));
    expect(reason).to.equal(`image is ${width}×${height} = ${width * height} pixels, over this server's limit of ${limit}`);

    const own = await context.newPage();
    const posts: string[] = [];
    own.on('request', (request) => {
      if (request.method() === 'POST') posts.push(new URL(request.url()).pathname);
    });
    await own.goto(`${base}/`);
    await own.locator('#max_side_len[placeholder]').waitFor({ state: 'attached' });
    const card = (name: string): Locator => own.locator('.result', { has: own.locator('.name', { hasText: name }) });
    await own.setInputFiles('#file', png);
    await card(png.name).and(own.locator('[data-state="error"]')).waitFor({ timeout: 60_000 });
    const said = (await card(png.name).locator('.status').textContent()) ?? '';
    const [, fitWidth, fitHeight] = /; scale it down to (\d+)×(\d+) or less, or crop it$/.exec(said) ?? [];
    expect(said).to.equal(`Error: the ${reason}; scale it down to ${fitWidth}×${fitHeight} or less, or crop it`);
    expect(Number(fitWidth) * Number(fitHeight), 'the size offered').to.be.at.most(limit);
    expect(Number(fitWidth) / Number(fitHeight), 'the size offered').to.be.closeTo(width / height, 0.01);
    expect(await card(png.name).getByRole('button', { name: 'Send again' }).isHidden(), 'Send again offered').to.equal(true);
    expect(posts, 'images sent').to.deep.equal([]);

    // A TIFF, which the browser does not read, goes to the server, which refuses it in the same words.
    await own.setInputFiles('#file', tiff);
    await card(tiff.name).and(own.locator('[data-state="error"]')).waitFor({ timeout: 60_000 });
    // In the page's words for it, not the server's, which send a script to tiles over gRPC.
    expect(serverWords).to.contain('RecognizeTiles');
    expect(await card(tiff.name).locator('.status').textContent()).to.equal(said);
    expect(posts, 'images sent').to.deep.equal(['/api/ocr']);
    await own.close();
  });

  it('asks the server for its limit and defaults again when images are added, where it was still starting when the page opened', async () => {
    const early = await context.newPage();
    let sent = 0;
    let asked = 0;
    // Starting, as `ocr serve` answers while its models load; then a limit of 1 MiB an image (`--max-message-mb 1`).
    await early.route('**/api/info', async (route) => {
      if (++asked === 1) {
        return route.fulfill({
          status: 503,
          json: { code: 14, msg: 'the server is starting: its models are still loading; retry in a moment', error: 'UNAVAILABLE' },
        });
      }
      const info = (await (await route.fetch()).json()) as { data: { limits: Record<string, number> } };
      info.data.limits.max_message_bytes = 1024 * 1024;
      await route.fulfill({ json: info });
    });
    await early.route('**/api/ocr', (route) => (sent++, route.fulfill({ json: hello })));
    const starting = early.waitForResponse('**/api/info');
    await early.goto(`${base}/`);
    expect((await starting).status()).to.equal(503);
    expect(await early.locator('#max_side_len').getAttribute('placeholder')).to.equal(null);
    const big = { name: 'big.png', mimeType: 'image/png', buffer: Buffer.alloc(1.5 * 1024 * 1024) };
    await early.setInputFiles('#file', [big, await blank('small.png')]);
    const card = (name: string): Locator => early.locator('.result', { has: early.locator('.name', { hasText: name }) });
    await card('small.png').and(early.locator('[data-state="done"]')).waitFor();
    await card('big.png').and(early.locator(':is([data-state="done"], [data-state="error"])')).waitFor();
    expect(await card('big.png').locator('.status').textContent()).to.equal(
      "Error: the image is 1.5 MiB, larger than this server's limit of 1 MiB an image; scale it down, crop it, or save it smaller (as JPEG)",
    );
    expect(sent, 'images sent').to.equal(1);
    expect(await early.locator('#max_side_len').getAttribute('placeholder')).to.match(/^\d+ \(server default\)$/);
    await early.close();
  });

  it('sends the images without the size check where api/info never answers, rather than holding them for it', async () => {
    const hung = await context.newPage();
    await hung.route('**/api/info', () => undefined);
    await hung.route('**/api/ocr', (route) => route.fulfill({ json: hello }));
    await hung.goto(`${base}/`);
    await hung.setInputFiles('#file', await blank('unheld.png'));
    await hung.locator('.result[data-state="done"]').waitFor({ timeout: 60_000 });
    await hung.close();
  });

  it('is served with a strict Content-Security-Policy of its own, and works under it, loading nothing it forbids', async () => {
    const own = await browser.newContext({ acceptDownloads: true });
    try {
      await own.addInitScript(`window.violations = [];
        document.addEventListener('securitypolicyviolation', (e) => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));`);
      const strict = await own.newPage();
      const response = await strict.goto(`${base}/`);
      // Nothing from elsewhere, no inline script or style, images from the page's own files or those
      // chosen; framed by its own origin only; no type sniffed; no Referer to other sites.
      expect(response?.headers()).to.deep.include({
        'content-security-policy':
          "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'",
        'x-frame-options': 'SAMEORIGIN',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      });
      await strict.setInputFiles('#file', RECEIPT);
      const card = strict.locator('.result');
      await card.and(strict.locator(':is([data-state="done"], [data-state="error"])')).waitFor({ timeout: 120_000 });
      expect(await card.getAttribute('data-state')).to.equal('done');
      expect(await strict.evaluate("document.querySelector('.result img').naturalWidth")).to.be.greaterThan(0);
      await card.locator('.lines li').nth(2).hover();
      const [file] = await Promise.all([strict.waitForEvent('download'), card.getByRole('link', { name: 'Download TXT' }).click()]);
      expect(file.suggestedFilename()).to.equal('d004_receipt.txt');
      expect(await strict.evaluate('window.violations')).to.deep.equal([]);
      // The API's page (swagger-ui, which styles itself inline and draws its icons from data: URLs) is
      // framed by its own origin only, runs no script but its own files, and renders, an operation opened.
      const docs = await strict.goto(`${base}/docs`);
      expect(docs?.headers()).to.deep.include({
        'content-security-policy':
          "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'",
        'x-frame-options': 'SAMEORIGIN',
        'x-content-type-options': 'nosniff',
      });
      await strict.locator('.swagger-ui .info .title').filter({ hasText: 'OCR service' }).waitFor({ timeout: 30_000 });
      await strict.locator('.opblock-summary-path').filter({ hasText: '/api/ocr' }).first().click();
      await strict.getByRole('button', { name: 'Try it out' }).click();
      await strict.getByRole('button', { name: 'Execute' }).waitFor();
      expect(await strict.evaluate('window.violations')).to.deep.equal([]);
    } finally {
      await own.close();
    }
  });

  it('is served the same at / by the gateway, which names the instance that read the image', async () => {
    const gateway = await spawnGateway(['--target', `ipv4:127.0.0.1:${server.port}`]);
    try {
      const viaGateway = await context.newPage();
      await viaGateway.goto(`${gateway.url}/`);
      await viaGateway.setInputFiles('#file', RECEIPT);
      await viaGateway.locator('.result:is([data-state="done"], [data-state="error"])').waitFor({ timeout: 120_000 });
      expect(await viaGateway.locator('.status').textContent()).to.match(/^\d+ lines read in \d+\.\d\d s\.$/);
      expect(await viaGateway.locator('.timings dd').first().textContent()).to.equal(server.instanceId);
      await viaGateway.close();
    } finally {
      gateway.child.kill('SIGKILL');
    }
  });

  it('asks a server with tokens on for one (or for another, refused for its scope), and sends every image refused for want of it again once it is entered', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-web-token-'));
    const key = generateApiKey();
    const keys = path.join(dir, 'keys.json');
    const adminKey = generateApiKey();
    writeFileSync(
      keys,
      JSON.stringify([
        { name: 'web', hash: hashApiKey(key), scopes: ['ocr:read'] },
        { name: 'metrics', hash: hashApiKey(adminKey), scopes: ['ocr:admin'] },
      ]),
    );
    const guarded = await spawnServer(['--api-keys', keys]);
    try {
      const tokenPage = await context.newPage();
      await tokenPage.goto(`http://127.0.0.1:${guarded.httpPort}/`);
      await tokenPage.setInputFiles('#file', [
        { name: 'd004_receipt.jpg', mimeType: 'image/jpeg', buffer: readFileSync(RECEIPT) },
        await blank('blank.png'),
      ]);
      const cards = tokenPage.locator('.result');
      // A locator, not waitForFunction: polled, its string is evaluated in the page, which the Content-Security-Policy forbids.
      await tokenPage.locator('.result[data-state="error"]').nth(1).waitFor({ timeout: 60_000 });
      // In a person's words: the server's name the header that carries a token, which the page sends.
      for (const status of await cards.locator('.status').allTextContents()) {
        expect(status).to.equal(
          'Error: this server reads images only for those with a token (an API key or a JWT): enter yours under Options, and the image goes again',
        );
      }
      // The field is shown and has the focus: typing the key is all that is left, for every image refused.
      expect(await tokenPage.evaluate('document.activeElement.id')).to.equal('token');
      await tokenPage.keyboard.type(key);
      await tokenPage.keyboard.press('Enter');
      // The receipt's lines, and none on the blank image.
      for (const [card, read] of [
        [cards.first(), /^\d+ lines read in \d+\.\d\d s\.$/],
        [cards.last(), /^No text found in \d+\.\d\d s\. /],
      ] as const) {
        await card.and(tokenPage.locator('[data-state="done"]')).waitFor({ timeout: 120_000 });
        expect(await card.locator('.status').textContent()).to.match(read);
        expect(await card.getByRole('button', { name: 'Send again' }).isHidden()).to.equal(true);
      }
      // A reload of the tab keeps the token; it is never a form field (the server would refuse an unknown option).
      await tokenPage.reload();
      expect(await tokenPage.locator('#token').inputValue()).to.equal(key);
      // A token without the scope to read images (403) asks for another the same way.
      await tokenPage.getByText('Options').click();
      await tokenPage.locator('#token').fill(adminKey);
      await tokenPage.locator('#token').press('Enter');
      await tokenPage.setInputFiles('#file', [await blank('scopeless.png')]);
      const refused = tokenPage.locator('.result').last();
      await refused.and(tokenPage.locator('[data-state="error"]')).waitFor({ timeout: 60_000 });
      expect(await refused.locator('.status').textContent()).to.match(/^Error: .*ocr:read/);
      expect(await tokenPage.evaluate('document.activeElement.id')).to.equal('token');
      await tokenPage.locator('#token').fill(key);
      await tokenPage.keyboard.press('Enter');
      await refused.and(tokenPage.locator('[data-state="done"]')).waitFor({ timeout: 120_000 });
      await tokenPage.close();
    } finally {
      guarded.child.kill('SIGKILL');
    }
  });

  it('says which character of a token pasted no header can carry, rather than the browser’s words, and sends the image once it is entered anew', async () => {
    const authorizations: (string | undefined)[] = [];
    const { routed } = await routedPage(async (route) => {
      authorizations.push(route.request().headers().authorization);
      await route.fulfill({ json: hello });
    });
    await routed.getByText('Options').click();
    // A zero-width space, as pasted from a chat or a wiki with the key.
    await routed.locator('#token').fill('ocr_abc\u200bdef');
    await routed.locator('#token').press('Enter');
    await routed.setInputFiles('#file', await blank('pasted-token.png'));
    const card = routed.locator('.result');
    await card.and(routed.locator('[data-state="error"]')).waitFor();
    expect(await card.locator('.status').textContent()).to.equal(
      'Error: the token under Options holds U+200B, which is not shown, and no API key or JWT does; enter the token again without it',
    );
    expect(await routed.evaluate('document.activeElement.id')).to.equal('token');
    await routed.locator('#token').fill('ocr_abcdef');
    await routed.locator('#token').press('Enter');
    await card.and(routed.locator('[data-state="done"]')).waitFor();
    expect(authorizations).to.deep.equal(['Bearer ocr_abcdef']);
    // What a header carries is sent: a server without tokens ignores it, one with tokens says what is wrong.
    await routed.locator('#token').fill('ocr_abc def');
    await routed.locator('#token').press('Enter');
    await routed.setInputFiles('#file', await blank('spaced-token.png'));
    await routed.locator('.result').first().and(routed.locator('[data-state="done"]')).waitFor();
    expect(authorizations).to.deep.equal(['Bearer ocr_abcdef', 'Bearer ocr_abc def']);
    await routed.close();
  });

  it('says why a drop or a paste read nothing, where it held a link or a file’s name rather than an image', async () => {
    const own = await context.newPage();
    await own.goto(`${base}/`);
    const note = own.locator('#nothing-read');
    expect(await note.isHidden()).to.equal(true);
    // An image dragged from another page: its link, no file.
    await transfer(own, 'main', 'drop', `data.setData('text/uri-list', 'https://example.com/scan.png')`);
    const dropped = 'What was dropped holds no file, only a link or text: save the image first, then drop or choose the file.';
    expect(await note.textContent()).to.equal(dropped);
    expect(await own.getByRole('log').textContent()).to.contain(dropped);
    // A file copied in a file manager: its name, no file.
    await transfer(own, 'body', 'paste', `data.setData('text/plain', '/home/me/scan.png')`);
    expect(await note.textContent()).to.equal(
      'The clipboard holds no image, only text or a file’s name: copy the image itself (“Copy image”), or choose the file.',
    );
    // A file dropped is read, and the note goes.
    await transfer(own, 'main', 'drop', `data.items.add(${fileInPage(await blank('dropped.png'))})`);
    await own.locator('.result', { has: own.locator('.name', { hasText: 'dropped.png' }) }).waitFor();
    expect(await note.isHidden()).to.equal(true);
    // Text pasted into a field is the field's.
    await transfer(own, '#token', 'paste', `data.setData('text/plain', 'ocr_abcdef')`);
    expect(await note.isHidden()).to.equal(true);
    await own.close();
  });

  it('reads the images in a folder dropped, at any depth, in the order of their names, rather than sending the folder as a file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-web-folder-'));
    const scans = path.join(dir, 'scans');
    mkdirSync(path.join(scans, 'scans 2'), { recursive: true });
    const png = (await blank('page.png')).buffer;
    for (const name of ['page 10.png', 'page 2.png', path.join('scans 2', 'page 3.png')]) writeFileSync(path.join(scans, name), png);
    // A folder's other files are no images: left out rather than each refused by the server.
    writeFileSync(path.join(scans, 'notes.txt'), 'not an image\n');
    const { routed, requests } = await routedPage((route) => route.fulfill({ json: hello }));
    await dropPaths(routed, [scans]);
    await routed.locator('.result').nth(2).waitFor();
    expect(await routed.locator('.result .name').allTextContents()).to.deep.equal(['page 2.png', 'page 10.png', 'page 3.png']);
    for (const card of await routed.locator('.result').all()) await card.and(routed.locator('[data-state="done"]')).waitFor();
    expect(requests()).to.equal(3);
    // A folder without images says so.
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    writeFileSync(path.join(empty, 'notes.txt'), 'not an image\n');
    await dropPaths(routed, [empty]);
    await routed
      .locator('#nothing-read', { hasText: 'The folder dropped holds no image: drop or choose the images themselves.' })
      .waitFor();
    expect(await routed.locator('.result').count()).to.equal(3);
    await routed.close();
  });

  it('names each image pasted from the clipboard apart, where the browser names every one "image.png"', async () => {
    const { routed } = await routedPage((route) => route.fulfill({ json: hello }));
    const pasted = fileInPage(await blank('image.png'));
    for (let i = 0; i < 2; i++) await transfer(routed, 'body', 'paste', `data.items.add(${pasted})`);
    // A file pasted from a file manager keeps its name.
    await transfer(routed, 'body', 'paste', `data.items.add(${fileInPage(await blank('scan.png'))})`);
    await routed.locator('.result').nth(2).waitFor();
    expect(await routed.locator('.result .name').allTextContents()).to.deep.equal(['scan.png', 'pasted image 2.png', 'pasted image 1.png']);
    await routed.close();
  });

  it('fits a phone’s width: the picture above the text, nothing wider than the screen, the lines as on the page on request', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate('document.documentElement.scrollWidth')).to.be.at.most(390);
    // The card read at desktop width follows the screen to the reading order, until asked otherwise.
    await receipt.and(page.locator('[data-view="list"]')).waitFor();
    await receipt.getByRole('radio', { name: 'As on the page' }).check();
    const image = await box(receipt.locator('img'));
    const panel = await box(receipt.locator('.lines'));
    expect(panel.y).to.be.at.least(image.y + image.height);
    expect(image.width).to.be.within(300, 390);
    expect(panel.width).to.be.closeTo(image.width, 2);
    const placed = within(await box(receipt.locator('.lines li').nth(10)), panel);
    const drawn = within(await box(receipt.locator('.boxes polygon').nth(10)), image);
    for (const [k, fraction] of drawn.entries()) expect(placed[k]).to.be.closeTo(fraction, 0.01);
    for (const name of ['Download TXT', 'Download JSON']) {
      const control = await box(receipt.getByRole('link', { name }));
      expect(control.x + control.width).to.be.at.most(390);
    }
  });

  it('shows a phone (360 px) the lines in reading order at a readable size, each linked to its box, nothing past the screen', async () => {
    const { own, card } = await readInContext(PHONE);
    const phone = card.page();
    try {
      expect(await phone.evaluate('document.documentElement.scrollWidth')).to.be.at.most(360);
      // No hint to drop or paste where neither can be done; a desktop shows it.
      expect(await phone.locator('.drop p').isVisible(), 'the drop and paste hint on a touch screen').to.equal(false);
      expect(await page.locator('.drop p').isVisible(), 'the drop and paste hint on a desktop').to.equal(true);
      const lines = card.locator('.lines li');
      const count = await lines.count();
      expect(count).to.be.greaterThan(40);
      const sizes = (await phone.evaluate(
        `[...document.querySelectorAll('.lines :is(.text, .confidence)')].map((e) => parseFloat(getComputedStyle(e).fontSize))`,
      )) as number[];
      expect(Math.min(...sizes), 'the smallest text of the lines, in px').to.be.at.least(14);
      // In reading order, one under the other, each with its confidence shown, each a tap target.
      const boxes = await Promise.all((await lines.all()).map(box));
      for (const [i, b] of boxes.entries()) {
        expect(b.height, `line ${i}`).to.be.at.least(44);
        expect(b.x + b.width, `line ${i}`).to.be.at.most(360);
        if (i > 0) expect(b.y, `line ${i}`).to.be.at.least(boxes[i - 1]!.y + boxes[i - 1]!.height - 1);
      }
      expect(await lines.nth(3).locator('.confidence').isVisible()).to.equal(true);
      const controls = [
        phone.locator('label[for="file"]'),
        phone.locator('summary'),
        card.getByRole('button', { name: 'Copy text' }),
        card.getByRole('link', { name: 'Download TXT' }),
        card.getByRole('link', { name: 'Download JSON' }),
      ];
      for (const control of controls) expect((await box(control)).height, control.toString()).to.be.at.least(44);
      // Copying or saving a long page's text needs no scroll past its lines; each label sits in the middle of its control.
      expect((await box(card.getByRole('button', { name: 'Copy text' }))).y, 'Copy text above the lines').to.be.below(
        (await box(lines.first())).y,
      );
      const offCentre = (await phone.evaluate(
        `[...document.querySelectorAll('.actions > *')].map((control) => {
          const range = document.createRange();
          range.selectNodeContents(control);
          const label = range.getBoundingClientRect();
          const whole = control.getBoundingClientRect();
          return Math.abs(label.top + label.height / 2 - (whole.top + whole.height / 2));
        })`,
      )) as number[];
      expect(offCentre, 'the actions, each label off its middle, px').to.have.length(3);
      for (const px of offCentre) expect(px, 'the actions, each label off its middle, px').to.be.below(2);

      // A line far down focused: its box lights, and the picture stays in view above it.
      const far = lines.nth(count - 5);
      await far.focus();
      const polygon = card.locator('.boxes polygon').nth(count - 5);
      expect(await polygon.getAttribute('class')).to.equal('active');
      expect(await far.getAttribute('class')).to.contain('active');
      const lit = await box(polygon);
      const line = await box(far);
      expect(lit.y).to.be.within(0, 640 - lit.height);
      expect(line.y).to.be.within(lit.y + lit.height, 640 - line.height);
      // A box tapped lights its line, which takes the focus.
      await card
        .locator('.boxes polygon')
        .nth(count - 3)
        .tap();
      expect(
        await lines
          .nth(count - 3)
          .and(phone.locator(':focus'))
          .count(),
      ).to.equal(1);
      expect(await lines.nth(count - 3).getAttribute('class')).to.contain('active');
      expect(await polygon.getAttribute('class')).to.equal('');

      // As on the page, on request: the lines placed where their boxes are.
      await card.getByRole('radio', { name: 'As on the page' }).check();
      const image = await box(card.locator('img'));
      const panel = await box(card.locator('.lines'));
      const drawn = within(await box(card.locator('.boxes polygon').nth(10)), image);
      const placed = within(await box(lines.nth(10)), panel);
      for (const [k, fraction] of drawn.entries()) expect(placed[k]).to.be.closeTo(fraction, 0.01);
      expect(await phone.evaluate('document.documentElement.scrollWidth')).to.be.at.most(360);
    } finally {
      await own.close();
    }
  });

  it('shows the options’ server defaults whole, in fields a finger can hit at phone width', async () => {
    for (const options of [{ viewport: { width: 1280, height: 900 } }, PHONE]) {
      const own = await browser.newContext(options);
      try {
        const fields = await own.newPage();
        await fields.goto(`${base}/`);
        await fields.locator('summary').click();
        await fields.locator('#max_side_len[placeholder]').waitFor({ state: 'attached' });
        // Each field: its height, and how much wider its placeholder is than the room for it.
        const sizes = (await fields.evaluate(`[...document.querySelectorAll('#options :is(input, select)')].map((field) => {
          const style = getComputedStyle(field);
          const context = document.createElement('canvas').getContext('2d');
          context.font = style.font;
          const room = field.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
          return { id: field.id, height: field.getBoundingClientRect().height, over: context.measureText(field.placeholder ?? '').width - room };
        })`)) as { id: string; height: number; over: number }[];
        expect(sizes).to.have.length(5);
        for (const { id, height, over } of sizes) {
          expect(over, `${options.viewport.width} px: #${id}'s placeholder cut by, px`).to.be.at.most(0);
          if (options === PHONE) expect(height, `#${id}'s height at phone width`).to.be.at.least(44);
        }
        expect(await fields.evaluate('document.documentElement.scrollWidth')).to.be.at.most(options.viewport.width);
      } finally {
        await own.close();
      }
    }
  });

  it('follows the light or dark colour scheme asked for, every text at a contrast of 4.5:1 or more', async () => {
    for (const colorScheme of ['light', 'dark'] as const) {
      for (const options of [{ viewport: { width: 1280, height: 900 } }, PHONE]) {
        const { own, card } = await readInContext({ ...options, colorScheme });
        const scheme = card.page();
        try {
          await scheme.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image\n') });
          await scheme.locator('.result[data-state="error"]').waitFor();
          await card.locator('.lines li').nth(2).focus();
          const texts = await contrasts(
            scheme,
            ':is(h1, header p, .drop p, summary, .name, .status, .button, button, .view label, .lines li:nth-child(-n + 3) > span, .timings :is(dt, dd))',
          );
          expect(texts.length).to.be.greaterThan(20);
          for (const { text, ratio } of texts) expect(ratio, `${colorScheme}, ${options.viewport.width} px: "${text}"`).to.be.at.least(4.5);
          const [page] = await contrasts(scheme, 'html');
          if (colorScheme === 'dark') expect(page!.background, 'the page’s luminance').to.be.below(0.05);
          else expect(page!.background, 'the page’s luminance').to.be.above(0.8);
        } finally {
          await own.close();
        }
      }
    }
  });

  it('shows which line is lit in forced colours (a Windows contrast theme), in the theme’s highlight colours, in both views', async () => {
    const { own, card } = await readInContext({ viewport: { width: 1280, height: 900 }, forcedColors: 'active' });
    const forced = card.page();
    for (const view of ['As on the page', 'In reading order']) {
      await card.getByRole('radio', { name: view }).check();
      await card.locator('.lines li').nth(3).hover();
      const [lit] = await contrasts(forced, '.lines li.active .text');
      const [unlit] = await contrasts(forced, '.lines li:not(.active) .text');
      // WCAG's 3:1 for what tells a state apart, between the lit line's background and another's.
      const apart = (Math.max(lit!.background, unlit!.background) + 0.05) / (Math.min(lit!.background, unlit!.background) + 0.05);
      expect(apart, `${view}: the lit line's background against another's`).to.be.at.least(3);
      expect(lit!.ratio, `${view}: the lit line's text`).to.be.at.least(4.5);
      if (view === 'In reading order') {
        const [confidence] = await contrasts(forced, '.lines li.active .confidence');
        expect(confidence!.ratio, `${view}: the lit line's confidence`).to.be.at.least(4.5);
      }
    }
    await own.close();
  });

  it('shows a transparent image, and the blank page of one the browser cannot show (TIFF), on white in the dark scheme too', async () => {
    // Black on a transparent ground, as screenshots and exported graphics often are.
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="100"><rect x="20" y="30" width="360" height="40"/></svg>';
    const files = [
      { name: 'clear.png', mimeType: 'image/png', buffer: await sharp(Buffer.from(svg)).png().toBuffer(), shown: 'img' },
      { name: 'clear.tif', mimeType: 'image/tiff', buffer: await sharp(Buffer.from(svg)).tiff().toBuffer(), shown: '.boxes' },
    ];
    const own = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
    try {
      const dark = await own.newPage();
      await dark.goto(`${base}/`);
      for (const { shown, ...file } of files) {
        await dark.setInputFiles('#file', file);
        const card = dark.locator('.result', { has: dark.locator('.name', { hasText: file.name }) });
        await card.and(dark.locator(':is([data-state="done"], [data-state="error"])')).waitFor({ timeout: 120_000 });
        // A corner of the page, where the image is transparent, as painted: the boxes' red on near-black was under 3:1.
        const corner = await sharp(await card.locator(shown).screenshot())
          .extract({ left: 3, top: 3, width: 1, height: 1 })
          .raw()
          .toBuffer();
        expect([...corner.subarray(0, 3)], file.name).to.deep.equal([255, 255, 255]);
      }
    } finally {
      await own.close();
    }
  });
});
