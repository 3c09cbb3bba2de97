// The Web UI: every image chosen, dropped or pasted goes to POST api/ocr; its answer is shown as the
// image with each box drawn over it and, beside it, the lines read, placed as on the page (on a
// narrow screen or for a banner, where those would be too small to read, in reading order first).

import { pictureAsRead } from './exif-orientation.js';

const SVG = 'http://www.w3.org/2000/svg';
/** Images sent at once; the others wait, so a batch does not meet the server's admission limits. */
const PARALLEL = 2;
/** Lines read with less confidence are marked. */
const LOW_CONFIDENCE = 0.8;
/**
 * Answers after which an image is sent again by itself: none (a lost connection), busy (429), unavailable
 * (503), and a proxy in front that lost the server (502, as while its containers are replaced; the server never answers it).
 */
const TRANSIENT = [0, 429, 502, 503];
/** Sends of one image while its answers are TRANSIENT; each waits its Retry-After, else 1, 2, 4, 8 s. */
const MAX_TRIES = 5;
/** A longer Retry-After is not waited for: the image fails, saying when to try again. */
const MAX_WAIT_S = 60;
/** Lines whose type placed as on the page would be smaller than this, in CSS pixels, too small to read, come first in reading order. */
const MIN_TYPE_PX = 8;
const MIB = 1024 * 1024;
/** A line with a Chinese character in it. */
const HAN = /\p{Script=Han}/u;
const TIMINGS = [
  ['queue_ms', 'Queue'],
  ['decode_ms', 'Decode'],
  ['detect_ms', 'Detect'],
  ['classify_ms', 'Classify'],
  ['recognize_ms', 'Recognize'],
  ['total_ms', 'Total'],
];

const options = document.querySelector('#options');
const fileInput = document.querySelector('#file');
const results = document.querySelector('#results');
const template = document.querySelector('#result');
const log = document.querySelector('#log');
const tokenInput = document.querySelector('#token');
/** The stylesheet's phone width, where the picture comes above the text. */
const narrow = matchMedia('(max-width: 45rem)');

/** The token lasts as long as the tab (a reload keeps it), never on disk: sessionStorage, not localStorage. */
const TOKEN_KEY = 'ocr-token';
tokenInput.value = sessionStorage.getItem(TOKEN_KEY) ?? '';

/** The Authorization header of the page's calls: the token entered, if any. */
function authorization() {
  const token = tokenInput.value.trim();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * Why the token entered cannot be sent, if it cannot: a character copied with it past Latin-1 (a
 * zero-width space, a curly quote) made the browser refuse the header, failing the image with its own
 * words ("String contains non ISO-8859-1 code point"). Only those are refused here: a server without
 * tokens ignores any other header, and one with tokens says what is wrong with it.
 */
function tokenProblem() {
  const odd = [...tokenInput.value.trim()].find((character) => /[^\0-\xff]/u.test(character));
  if (odd === undefined) return undefined;
  const code = `U+${odd.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  const shown = /[\p{L}\p{N}\p{P}\p{S}]/u.test(odd) ? `“${odd}” (${code})` : `${code}, which is not shown`;
  return `the token under Options holds ${shown}, and no API key or JWT does; enter the token again without it`;
}

/** A field under Options, shown and focused: the one to fill or correct before the image can go. */
function showOption(field) {
  field.closest('details').open = true;
  field.focus();
}

/** A server that wants a token, or another one: the field is shown and focused; once it is filled, the images refused go again. */
const askForToken = () => showOption(tokenInput);

/**
 * A number field holding what is no number ("1e", "."): it has no value, and the image was read with
 * the server's default, the person none the wiser.
 */
const unreadOption = () => [...options.elements].find((field) => field.validity.badInput);

/**
 * The options entered, as the form fields the server reads. A number field takes "5e-1" and "1e3", the
 * server plain decimals only: each goes as the number it is ("0.5", "1000"), rather than being refused
 * once the image was uploaded, under a name the page shows nowhere (option min_confidence).
 */
const optionFields = () =>
  [...options.elements]
    .filter((field) => field.name && field.value !== '')
    .map((field) => [field.name, field.type === 'number' ? String(field.valueAsNumber) : field.value]);

/**
 * What a screen reader is told: one log for the page, each message naming its image, only when an
 * image is added, read, refused or waits to be sent again; the cards' own statuses are not live.
 */
function announce(text) {
  log.append(Object.assign(document.createElement('p'), { textContent: text }));
  while (log.childElementCount > 10) log.firstElementChild.remove();
}

/**
 * The server's limit on an image (api/info), once known: a larger file is refused at once. Sent, it
 * would be refused only once uploaded whole (a browser reads no answer before): minutes on a phone.
 */
let maxImageBytes = Infinity;
/** The server's limit on an image's pixels (api/info), once known: checked before sending on the images the browser reads (tooManyPixels). */
let maxImagePixels = Infinity;

/**
 * The last ask of api/info, true once answered. A page opened while the server still loaded its
 * models, or a gateway had no instance yet (503), never learned the limit nor showed the defaults:
 * it is asked again when images are added, and they wait for the answer, at most INFO_WAIT_MS.
 */
let serverInfo = Promise.resolve(false);
/** Past it the images go without the size check, as they did before it was known: the server refuses a file too large itself. */
const INFO_WAIT_MS = 5000;

const waiting = [];
let running = 0;

function runNext() {
  while (running < PARALLEL && waiting.length > 0) {
    running += 1;
    waiting
      .shift()()
      .finally(() => {
        running -= 1;
        runNext();
      });
  }
}

const nameOf = (file) => file.name || 'pasted image';

let pastedCount = 0;

/**
 * A pasted image under a name of its own: browsers name every image pasted from the clipboard
 * "image.png", so that screenshots pasted one after another had cards, log lines and downloads alike.
 * A file pasted from a file manager keeps its name.
 */
function pastedImage(file) {
  if (file.name !== '' && !/^image\.\w+$/.test(file.name)) return file;
  pastedCount += 1;
  const extension = /\.\w+$/.exec(file.name)?.[0] ?? '';
  return new File([file], `pasted image ${pastedCount}${extension}`, { type: file.type, lastModified: file.lastModified });
}

const nothingRead = document.querySelector('#nothing-read');

/**
 * A drop or a paste that holds no file (an image dragged from another page is its link, a file copied
 * in a file manager its name): nothing happened, and the user was not told why.
 */
function sayNothingRead(text) {
  nothingRead.textContent = text;
  nothingRead.hidden = false;
  announce(text);
}

function addFiles(files) {
  if (files.length > 0) nothingRead.hidden = true;
  const cards = files.map((file) => {
    const card = createCard(file);
    enqueue(file, card);
    return card;
  });
  results.prepend(...cards);
  if (files.length > 0) announce(files.length === 1 ? `Reading ${nameOf(files[0])}.` : `Reading ${files.length} images.`);
  serverInfo = serverInfo.then((known) => known || showDefaults());
  runNext();
}

let cardCount = 0;

function createCard(file) {
  const card = template.content.firstElementChild.cloneNode(true);
  const name = nameOf(file);
  cardCount += 1;
  // The card is named for its image: its "Copy text" and "Download TXT" then say which image they are for.
  card.querySelector('.name').id = `name-${cardCount}`;
  card.querySelector('article').setAttribute('aria-labelledby', `name-${cardCount}`);
  card.querySelector('.name').textContent = name;
  for (const radio of card.querySelectorAll('.view input')) {
    radio.name = `view-${cardCount}`;
    radio.addEventListener('change', () => {
      card.dataset.viewChosen = 'true';
      setView(card, radio.value);
    });
  }
  setView(card, defaultView(card));
  // Named for its image: several bars all called "Progress" tell a screen reader nothing.
  card.querySelector('.progress').setAttribute('aria-label', `${name}: progress`);
  const img = card.querySelector('img');
  // Where the browser would show it otherwise than the server reads it (a WebP's EXIF orientation), a copy turned as the server turns it.
  pictureAsRead(file).then((picture) => (img.src = URL.createObjectURL(picture)));
  // Once shown, the image needs no URL: kept, each would hold its file until the page closes.
  const revoke = () => URL.revokeObjectURL(img.src);
  img.addEventListener('load', revoke, { once: true });
  img.addEventListener('error', revoke, { once: true });
  // TIFF, which scanners write and the server reads, is no image a browser shows: the boxes are drawn without it.
  img.addEventListener('error', () => showBlankPage(card, 'This browser cannot show this image'), { once: true });
  img.addEventListener('load', () => checkShownTurned(card), { once: true });
  img.alt = name;
  setStatus(card, 'waiting', 'Waiting for the images before it.', null);
  return card;
}

/**
 * The server turns an image by its EXIF orientation, browsers do not always (a WebP's): where
 * pictureAsRead could not turn it as the server does, and it is shown turned a quarter otherwise than
 * the page read, the image would have its boxes across it, so they are drawn without it. Run once both
 * the image's size and the answer's are known, whichever comes last.
 */
function checkShownTurned(card) {
  const img = card.querySelector('img');
  const read = Number(card.dataset.ratio);
  if (!(img.naturalHeight > 0) || !(read > 0)) return;
  if (Math.abs(img.naturalWidth / img.naturalHeight / read - 1) < 0.02) return;
  showBlankPage(card, 'This browser shows this image turned otherwise than the server read it');
}

/**
 * The boxes drawn on a blank page of the image's size, and why. The caption is written only then:
 * hidden, Chromium still named every figure by it, so a screen reader told of each image shown that it could not be.
 */
function showBlankPage(card, why) {
  card.querySelector('.page').classList.add('unshown');
  card.querySelector('figcaption').textContent = `${why}: its boxes are drawn on a blank page of its size.`;
}

/**
 * Placed as on the page, a phone's lines would be 8 px tall, and a banner's (a page far wider than
 * its lines are tall) as small at any width: those come first in reading order, at the page's type size.
 */
function defaultView(card) {
  if (narrow.matches) return 'list';
  const type = Number(card.dataset.type) * card.querySelector('.lines').clientWidth;
  return type < MIN_TYPE_PX ? 'list' : 'page';
}

/** Shows the card's lines in reading order ('list') or placed as on the page ('page'). */
function setView(card, view) {
  card.dataset.view = view;
  card.querySelector(`.view input[value="${view}"]`).checked = true;
  const label = view === 'list' ? 'Lines read, in reading order' : 'Lines read, as placed on the page';
  card.querySelector('.lines').setAttribute('aria-label', label);
  fitLines(card);
}

// A screen turned or a window resized across the phone width: the cards not switched by hand follow.
narrow.addEventListener('change', () => {
  for (const card of results.querySelectorAll('.result:not([data-view-chosen])')) setView(card, defaultView(card));
});

/** The states of an image on its way, which its card's Cancel stops. */
const UNDER_WAY = ['waiting', 'uploading', 'recognizing', 'retrying'];

/** progress: a fraction, 'busy' (no measure) or null (no bar). */
function setStatus(card, state, text, progress) {
  card.dataset.state = state;
  const cancel = card.querySelector('.cancel');
  const underWay = UNDER_WAY.includes(state);
  // Cancel goes once the image is read or failed: with the focus on it, the card's name keeps the keyboard's place.
  if (!underWay && document.activeElement === cancel) card.querySelector('.name').focus();
  cancel.hidden = !underWay;
  const status = card.querySelector('.status');
  if (status.textContent !== text) status.textContent = text; // unchanged, not announced again
  const bar = card.querySelector('.progress');
  bar.hidden = progress === null;
  if (progress === 'busy') bar.removeAttribute('value');
  else if (progress !== null) bar.value = progress;
}

/** One send of the image with the options set; XMLHttpRequest because fetch reports no upload progress. Resolves with it once answered or failed. */
function send(file, card, signal) {
  const body = new FormData();
  for (const [key, value] of optionFields()) body.append(key, value);
  body.append('image', file);
  const xhr = new XMLHttpRequest();
  xhr.open('POST', 'api/ocr');
  for (const [header, value] of Object.entries(authorization())) xhr.setRequestHeader(header, value);
  xhr.responseType = 'json';
  setStatus(card, 'uploading', 'Uploading.', 0);
  xhr.upload.addEventListener('progress', (e) => {
    if (e.lengthComputable) setStatus(card, 'uploading', 'Uploading.', e.loaded / e.total);
  });
  xhr.upload.addEventListener('load', () => setStatus(card, 'recognizing', 'Reading the text.', 'busy'));
  return new Promise((resolve) => {
    const abort = () => xhr.abort();
    signal.addEventListener('abort', abort, { once: true });
    xhr.addEventListener('loadend', () => {
      signal.removeEventListener('abort', abort);
      resolve(xhr);
    });
    xhr.send(body);
  });
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Resolves once the browser is online again, or at once when `signal` aborts. */
function backOnline(signal) {
  return new Promise((resolve) => {
    const done = () => {
      removeEventListener('online', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    addEventListener('online', done);
    signal.addEventListener('abort', done);
  });
}

/** Seconds to wait before sending again, from Retry-After (seconds or a date) or else doubling from 1 s. */
function retryDelayS(xhr, tries) {
  const header = xhr.getResponseHeader('retry-after')?.trim();
  if (header && /^\d+$/.test(header)) return Number(header);
  const date = header ? Date.parse(header) : NaN;
  if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - Date.now()) / 1000));
  return 2 ** (tries - 1);
}

/** What helps an image that took too long: less work for it, or a less busy server. */
const TOO_SLOW_ADVICE = 'Send again, or send a smaller image, or set a lower “Longest side the detector sees” under Options';

/**
 * An answer without the server's JSON, which every answer of the server has, comes from a proxy in
 * front. nginx, as set up by default, refuses an upload over 1 MiB (413) and stops waiting for an
 * answer after 60 s (504): "the server answered 413" said nothing of either, nor what to do.
 */
const PROXY_WORDS = {
  413: 'a proxy in front of the server refused the image as too large (413), before the server saw it; send a smaller image, or ask the proxy’s operator to allow larger uploads (nginx: client_max_body_size)',
  504: `a proxy in front of the server stopped waiting for its answer (504); ${TOO_SLOW_ADVICE}`,
};

const wordsFor = (xhr) => PROXY_WORDS[xhr.status] ?? `the server answered ${xhr.status} ${xhr.statusText}`.trim();

/** A 401 to a page that sent no token: the server's words name the header that carries one. */
const NO_TOKEN =
  'this server reads images only for those with a token (an API key or a JWT): enter yours under Options, and the image goes again';

const SLOW_UPLOAD =
  'the upload took longer than the server waits for one (408); send a smaller image (scaled down, cropped, or saved as JPEG), or Send again over a faster connection';

/** How the server begins every refusal over a caller's quota (src/auth/quota.ts), what tells it apart from one for load. */
const OVER_QUOTA = 'over the quota of ';

/** What makes an image's file smaller, all a person in a browser can do. */
const SMALLER = 'scale it down, crop it, or save it smaller (as JPEG)';

/** An image over the server's pixel limit, with the size that would do: scaled to the limit, its sides' ratio kept. */
function overPixelLimit(width, height, limit) {
  const scale = Math.sqrt(limit / (width * height));
  const [fitWidth, fitHeight] = [Math.floor(width * scale), Math.floor(height * scale)];
  return `the image is ${width}×${height} = ${width * height} pixels, over this server's limit of ${limit}; scale it down to ${fitWidth}×${fitHeight} or less, or crop it`;
}

/** The server's refusal of an image too large (src/engine/decode/decode.ts, src/shared/image-limit.ts), its reason as it says it. */
const SERVER_OVER_PIXELS = /^image is (\d+)×(\d+) = \d+ pixels, over this server's limit of (\d+);/;

/**
 * A 413 of the server in a person's words: its own tell a script to send the image as tiles over
 * gRPC or with the CLI's --tile-size, neither of which a page can. Its reason is kept.
 */
function tooLargeWords(msg) {
  const pixels = SERVER_OVER_PIXELS.exec(msg);
  if (pixels) return overPixelLimit(Number(pixels[1]), Number(pixels[2]), Number(pixels[3]));
  return `${msg.split('; ')[0]}; ${SMALLER}`;
}

/**
 * The server's refusals in a person's words, where its own are for scripts: a person can neither read
 * Retry-After (the page waits it out, and says when) nor set a timeout_ms (the page sends none), nor
 * send the request to another instance, nor a header, nor send an upload faster, nor send tiles. A refusal over a
 * quota keeps its reason, whose quota and what it allows; what to do comes after (recognize).
 * Undefined for the other answers, which the server's words fit.
 */
function personWords(xhr) {
  const msg = xhr.response?.msg;
  if (typeof msg !== 'string') return undefined;
  // The token field has been opened and focused (askForToken): the header the server names is the page's to send.
  if (xhr.status === 401 && tokenInput.value.trim() === '') return NO_TOKEN;
  // The server's limit on an upload's time (120 s) met over a slow link: pausing is not what made it slow.
  if (xhr.status === 408) return SLOW_UPLOAD;
  if (xhr.status === 413) return tooLargeWords(msg);
  if (xhr.status === 429) return msg.startsWith(OVER_QUOTA) ? msg.split('; ')[0] : 'the server is busy';
  if (xhr.status === 503) return 'the server cannot read images just now (it is starting, stopping or without an instance to read them)';
  if (xhr.status === 504) return `the server could not read the image in the time it allows (504); ${TOO_SLOW_ADVICE}`;
  return undefined;
}

/** A wait in the words a person reads: seconds, or minutes past two. */
const inWords = (seconds) => (seconds < 120 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`);

/**
 * Refusals of the file itself, too large (413) or no image (415): sent again, it is refused again
 * whatever the options or the token, so it is not offered.
 */
const REFUSES_THE_FILE = [413, 415];

/**
 * The image failed: its card says why and offers to send it again, as it is or after the options or
 * token change, unless `again` is false: a file that sending again would only fail again.
 */
function fail(card, file, why, again = true) {
  setStatus(card, 'error', `Error: ${why}`, null);
  announce(`${nameOf(file)}: Error: ${why}`);
  if (again) offerAgain(card, file);
}

/** The image's sending was stopped by its card's Cancel: nothing more of it goes to the server, and it can be sent again. */
function cancelled(card, file, say) {
  const focused = document.activeElement === card.querySelector('.cancel');
  setStatus(card, 'cancelled', 'Cancelled, not read.', null);
  if (say) announce(`${nameOf(file)}: cancelled.`);
  offerAgain(card, file);
  // Send again takes the place of the Cancel pressed, and its focus.
  if (focused) card.querySelector('.again').focus();
}

/** The card's Send again, shown: the image goes to the end of the queue. */
function offerAgain(card, file) {
  const button = card.querySelector('.again');
  button.hidden = false;
  button.onclick = () => {
    // The button goes: the focus would fall to the page's top; the card's name keeps the reader's place.
    if (document.activeElement === button) card.querySelector('.name').focus();
    button.hidden = true;
    delete card.dataset.wantsToken;
    setStatus(card, 'waiting', 'Waiting for the images before it.', null);
    announce(`Reading ${nameOf(file)} again.`);
    enqueue(file, card);
    runNext();
  };
}

/**
 * The image waits its turn to be sent. Its card's Cancel takes it off the queue, or stops its upload,
 * reading or wait for a retry: a batch dropped by mistake, or a large image on a slow link, was
 * otherwise stopped only by reloading the page, which lost every image read.
 */
function enqueue(file, card) {
  const controller = new AbortController();
  const cancel = (say) => {
    untrack(card, cancel);
    controller.abort();
    cancelled(card, file, say);
  };
  track(card, cancel);
  card.querySelector('.cancel').onclick = () => cancel(true);
  waiting.push(() =>
    controller.signal.aborted ? Promise.resolve() : recognize(file, card, controller.signal).finally(() => untrack(card, cancel)),
  );
}

/** What cancels each image on its way, by its card. */
const cancels = new Map();
const cancelAll = document.querySelector('#cancel-all');

function track(card, cancel) {
  cancels.set(card, cancel);
  showCancelAll();
}

/** Only the card's own: one cancelled, sent again, then reached by its old send's end keeps its new one. */
function untrack(card, cancel) {
  if (cancels.get(card) === cancel) cancels.delete(card);
  showCancelAll();
}

/** With several images on their way, one button cancels them all: a folder of hundreds dropped by mistake took as many presses. */
function showCancelAll() {
  cancelAll.hidden = cancels.size < 2;
  cancelAll.textContent = `Cancel the ${cancels.size} images not read yet`;
}

cancelAll.addEventListener('click', () => {
  const count = cancels.size;
  // One message for them all: one each would keep a screen reader talking for minutes.
  for (const cancel of [...cancels.values()]) cancel(false);
  announce(`Cancelled ${count} images.`);
  // The button goes; choosing other images is what comes next.
  fileInput.focus();
});

/**
 * The formats both the server and a browser read, whose size the page checks before sending: a photo
 * over the server's pixel limit (a phone's 48 Mpx) was refused only once uploaded whole, minutes over
 * a slow link. Others (TIFF, which browsers do not read; SVG, AVIF, which the server does not) the server judges.
 */
const CHECKED_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/bmp'];

/** The image's width and height as its card's picture has them, once known; null where the browser cannot read it. */
function pictureSize(card) {
  const img = card.querySelector('img');
  const size = () => (img.naturalWidth > 0 ? { width: img.naturalWidth, height: img.naturalHeight } : null);
  // Without a source yet (pictureAsRead is still reading the file), an image counts as complete.
  if (img.complete && img.hasAttribute('src')) return Promise.resolve(size());
  return new Promise((resolve) => {
    img.addEventListener('load', () => resolve(size()), { once: true });
    img.addEventListener('error', () => resolve(null), { once: true });
  });
}

/** Why the server would refuse the image for its pixels, in its words and with the size that would do; undefined where it would not, or cannot be told. */
async function tooManyPixels(file, card) {
  if (!Number.isFinite(maxImagePixels) || !CHECKED_TYPES.includes(file.type)) return undefined;
  const size = await pictureSize(card);
  const pixels = size && size.width * size.height;
  if (!(pixels > maxImagePixels)) return undefined;
  return overPixelLimit(size.width, size.height, maxImagePixels);
}

/**
 * A file the browser can no longer read, moved or deleted since it was chosen, fails its upload as a
 * lost connection does: it was sent five times over 15 s, then the server was said to be out of reach.
 */
async function readable(file) {
  try {
    await file.slice(0, 1).arrayBuffer();
    return true;
  } catch {
    return false;
  }
}
const OFFLINE = 'This device is offline; the image goes again once it is back online.';
/** A server on this machine is reached without a network: the browser being offline says nothing of whether it runs. */
const SERVER_ON_THIS_MACHINE = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(location.hostname);
const UNREADABLE =
  'this browser can no longer read the file: it was moved, renamed or deleted since it was chosen; choose it again where it is now';

/**
 * Reads one image. A busy server (429, 503), a proxy's 502 or a lost connection is tried again by itself, a
 * bounded number of times, waiting what the server asks; anything else is shown as the server
 * words it, or in a person's words where the server's are for scripts (personWords). Never rejects,
 * so the images after it are always sent.
 */
async function recognize(file, card, signal) {
  const name = nameOf(file);
  await serverInfo;
  if (signal.aborted) return;
  if (file.size > maxImageBytes) {
    const [size, limit] = [(file.size / MIB).toFixed(1), (maxImageBytes / MIB).toFixed(maxImageBytes < MIB ? 2 : 0)];
    // The server's reason for the same refusal (413), with what a person can do (tooLargeWords).
    return fail(card, file, `the image is ${size} MiB, larger than this server's limit of ${limit} MiB an image; ${SMALLER}`, false);
  }
  const overPixels = await tooManyPixels(file, card);
  if (signal.aborted) return;
  if (overPixels) return fail(card, file, overPixels, false);
  const unread = unreadOption();
  if (unread) {
    showOption(unread);
    return fail(
      card,
      file,
      `“${unread.labels[0].textContent}” under Options is not a number; enter one, or empty it for the server's default, then Send again`,
    );
  }
  const badToken = tokenProblem();
  if (badToken) {
    // As a 401: the field is shown, and the image goes again once the token is entered anew.
    card.dataset.wantsToken = 'true';
    askForToken();
    return fail(card, file, badToken);
  }
  try {
    for (let tries = 1; ; tries += 1) {
      const xhr = await send(file, card, signal);
      const unreadable = xhr.status === 0 && !signal.aborted && !(await readable(file));
      // Cancelled: its card says so already.
      if (signal.aborted) return;
      const answer = xhr.response;
      if (xhr.status === 200 && answer?.code === 0) return show(card, answer, name);
      if (unreadable) return fail(card, file, UNREADABLE, false);
      if (xhr.status === 0 && !navigator.onLine && !SERVER_ON_THIS_MACHINE) {
        // The device lost its network (a phone in a tunnel, Wi-Fi gone): the five tries went in 15 s, and
        // the server was said to be out of reach. The image waits for the network instead, that wait no try.
        setStatus(card, 'retrying', OFFLINE, null);
        announce(`${name}: ${OFFLINE}`);
        await backOnline(signal);
        if (signal.aborted) return;
        tries -= 1;
        continue;
      }
      const why = xhr.status === 0 ? 'no answer from the server' : (personWords(xhr) ?? answer?.msg ?? wordsFor(xhr));
      // 401: no token, or not a valid one; 403: a token without the scope to read images. Either way
      // another token is what helps, and the image goes again once it is entered.
      if (xhr.status === 401 || xhr.status === 403) {
        card.dataset.wantsToken = 'true';
        askForToken();
      }
      if (!TRANSIENT.includes(xhr.status)) return fail(card, file, why, !REFUSES_THE_FILE.includes(xhr.status));
      const waitS = retryDelayS(xhr, tries);
      // When to send it again, by hand: Retry-After's wait, read by the page, not named to the person.
      const later = `Send again ${waitS > 0 ? `in ${inWords(waitS)}` : 'in a moment'}`;
      if (tries >= MAX_TRIES) {
        // A server that never answered has no words of its own on what to do.
        const gaveUp =
          xhr.status === 0
            ? `${why} in ${MAX_TRIES} tries: check that it runs and that this computer reaches it, then Send again`
            : `${why}, still after ${MAX_TRIES} tries; ${later}`;
        return fail(card, file, gaveUp);
      }
      if (waitS > MAX_WAIT_S) return fail(card, file, `${why}; ${later}`);
      const text = `${why}; trying again ${waitS > 0 ? `in ${waitS} s` : 'now'} (try ${tries + 1} of ${MAX_TRIES}).`;
      setStatus(card, 'retrying', text, null);
      announce(`${name}: ${text}`);
      await pause(waitS * 1000, signal);
      if (signal.aborted) return;
    }
  } catch (err) {
    if (!signal.aborted) fail(card, file, `the answer could not be shown: ${err.message}`);
  }
}

/** A duration of the answer's timings; absent or not a number: undefined, and it is not shown. */
const msOf = (value) => (Number.isFinite(value) ? value : undefined);

/**
 * The upright page's frame: where each point of the image lies once the page is turned back by
 * `rotation` (degrees clockwise it was found turned), so that the lines are placed as on the page.
 */
function uprightPage(rotation, width, height) {
  if (rotation === 90) return { width: height, height: width, point: ([x, y]) => [y, width - x] };
  if (rotation === 180) return { width, height, point: ([x, y]) => [width - x, height - y] };
  if (rotation === 270) return { width: height, height: width, point: ([x, y]) => [height - y, x] };
  return { width, height, point: (p) => p };
}

/** What the image's name is followed by for a screen reader: "with the 1 text boxes outlined" was read out, and for a page without text, "the 0". */
const outlined = (count) => (count === 0 ? 'where no text was found' : `with the ${count} text box${count === 1 ? '' : 'es'} outlined`);

function show(card, answer, name) {
  const { data: lines, width, height, rotation, cached } = answer;
  const timings = answer.timings ?? {};
  if (!Array.isArray(lines) || !(width > 0) || !(height > 0)) throw new Error('it has no lines or no page size');
  const turned = rotation ? ` (the page was turned ${rotation}°)` : '';
  const total = msOf(timings.total_ms);
  // The server's result cache answers an image read before with the same options, doing no work: "in 0.00 s" would say otherwise.
  const took =
    total === undefined ? '' : cached ? ', from the server’s cache (the same image was read before)' : ` in ${(total / 1000).toFixed(2)} s`;
  // Nothing read: "0 lines read" said nothing of what to try, and Copy text emptied the clipboard.
  const summary =
    lines.length === 0
      ? `No text found${took}. If the image has some, try a larger “Longest side the detector sees” or a lower “Leave out lines read with confidence below” under Options.`
      : `${lines.length} line${lines.length === 1 ? '' : 's'} read${turned}${took}.`;
  // Done before the lines are measured below: only a done card shows them.
  setStatus(card, 'done', summary, null);
  card.querySelector('img').alt = `${name}, ${outlined(lines.length)}`;
  const boxes = card.querySelector('.boxes');
  boxes.setAttribute('viewBox', `0 0 ${width} ${height}`);
  card.querySelector('.page').style.setProperty('--ratio', `${width} / ${height}`);
  card.dataset.ratio = String(width / height);
  checkShownTurned(card);
  const page = uprightPage(rotation, width, height);
  const list = card.querySelector('.lines');
  list.style.setProperty('--ratio', `${page.width} / ${page.height}`);
  const items = lines.map((line) => {
    const polygon = document.createElementNS(SVG, 'polygon');
    polygon.setAttribute('points', line.box.map((p) => p.join(',')).join(' '));
    boxes.append(polygon);
    const item = lineItem(line, page);
    list.append(item);
    linkHighlight(card, item, polygon);
    return item;
  });
  rovingFocus(list, items);
  // The lines' median type size placed as on the page, a fraction of the page's width (font-size: --size × 0.8cqw).
  const sizes = items.map((item) => parseFloat(item.style.getPropertyValue('--size'))).sort((a, b) => a - b);
  if (sizes.length > 0) card.dataset.type = String(0.008 * sizes[sizes.length >> 1]);
  if (!card.dataset.viewChosen) setView(card, defaultView(card));
  fitLines(card);

  const text = lines.map((line) => line.text).join('\n');
  const stem = name.replace(/\.[^.]*$/, '');
  const actions = card.querySelector('.actions');
  actions.hidden = false;
  for (const action of actions.querySelectorAll('.copy, .txt')) action.hidden = lines.length === 0;
  // No text, no lines to show either way: a screen reader met a switch that changed nothing and an empty list.
  for (const part of card.querySelectorAll('.view, .lines')) part.hidden = lines.length === 0;
  // Its charset named: opened in a tab (a middle click, "Open link in new tab"), the Chinese text was read as Windows-1252.
  actions.querySelector('.txt').href = URL.createObjectURL(new Blob([`${text}\n`], { type: 'text/plain;charset=utf-8' }));
  actions.querySelector('.txt').download = `${stem}.txt`;
  actions.querySelector('.json').href = URL.createObjectURL(new Blob([JSON.stringify(answer, null, 2)], { type: 'application/json' }));
  actions.querySelector('.json').download = `${stem}.json`;
  // Links drawn as buttons: Space downloads, as it presses a button, rather than scrolling the page away.
  for (const link of actions.querySelectorAll('a')) {
    link.addEventListener('keydown', (e) => {
      if (e.key !== ' ' || e.repeat) return;
      e.preventDefault();
      link.click();
    });
  }
  actions.querySelector('.copy').addEventListener('click', () =>
    copyText(text).then(
      () => {
        setStatus(card, 'done', `${summary} Text copied.`, null);
        announce(`${name}: text copied.`);
      },
      (err) => {
        setStatus(card, 'done', `${summary} Could not copy: ${err.message}`, null);
        announce(`${name}: could not copy: ${err.message}`);
      },
    ),
  );
  const terms = [
    ['Instance', answer.instance_id || undefined],
    ...TIMINGS.map(([key, label]) => [label, msOf(timings[key]) === undefined ? undefined : `${Math.round(timings[key])} ms`]),
  ];
  for (const [term, value] of terms) {
    if (value === undefined) continue;
    const group = document.createElement('div');
    group.append(
      Object.assign(document.createElement('dt'), { textContent: term }),
      Object.assign(document.createElement('dd'), { textContent: value }),
    );
    card.querySelector('.timings').append(group);
  }
  card.querySelector('footer').hidden = false;
  announce(`${name}: ${summary}`);
}

/**
 * Text too wide for its box, placed as on the page, is set smaller. Measured the first time the
 * lines are shown so: sizes are in container units, so the ratio then holds at any width.
 */
function fitLines(card) {
  const list = card.querySelector('.lines');
  if (card.dataset.state !== 'done' || card.dataset.view !== 'page' || list.dataset.fitted) return;
  list.dataset.fitted = 'true';
  const items = [...list.children];
  const fits = items.map((item) => item.getBoundingClientRect().width / item.firstChild.getBoundingClientRect().width);
  items.forEach((item, i) => fits[i] > 0 && fits[i] < 1 && item.style.setProperty('--fit', fits[i].toFixed(3)));
}

/** A line and its box's bounds, in percentages of the upright page, for placing it as on the page; its type as tall as the box. */
function lineItem(line, page) {
  const corners = line.box.map(page.point);
  const xs = corners.map((p) => p[0]);
  const ys = corners.map((p) => p[1]);
  const [left, top] = [Math.min(...xs), Math.min(...ys)];
  const [boxWidth, boxHeight] = [Math.max(...xs) - left, Math.max(...ys) - top];
  const item = document.createElement('li');
  item.tabIndex = -1;
  item.classList.toggle('low', line.confidence < LOW_CONFIDENCE);
  // Its confidence label opens towards the middle of the page, never past an edge.
  item.classList.toggle('right', left + boxWidth / 2 > page.width / 2);
  // Custom properties, which only the view as on the page uses: in reading order the lines flow.
  item.style.setProperty('--left', `${(100 * left) / page.width}%`);
  item.style.setProperty('--top', `${(100 * top) / page.height}%`);
  item.style.setProperty('--width', `${(100 * boxWidth) / page.width}%`);
  item.style.setProperty('--height', `${(100 * boxHeight) / page.height}%`);
  item.style.setProperty('--size', ((100 * boxHeight) / page.width).toFixed(3));
  const text = Object.assign(document.createElement('span'), { className: 'text', textContent: line.text });
  // The page is in English: a screen reader would speak Chinese in an English voice, if at all. The models read Chinese and English only.
  if (HAN.test(line.text)) text.lang = 'zh';
  const confidence = Object.assign(document.createElement('span'), {
    className: 'confidence',
    textContent: ` confidence ${(100 * line.confidence).toFixed(1)}%`,
  });
  item.append(text, confidence);
  return item;
}

/** Keys that move the focus among an image's lines: by one, or to the first or last. */
const MOVES = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, Home: -Infinity, End: Infinity };

/**
 * An image's lines are one tab stop (the line last focused), and the arrow keys, Home and End move
 * among them: with a tab stop each, a page of 60 lines took 60 presses of Tab to pass.
 */
function rovingFocus(list, items) {
  if (items.length > 0) items[0].tabIndex = 0;
  list.addEventListener('focusin', (e) => {
    for (const item of items) item.tabIndex = item === e.target ? 0 : -1;
  });
  list.addEventListener('keydown', (e) => {
    const i = items.indexOf(e.target);
    if (!Object.hasOwn(MOVES, e.key) || i < 0 || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    items[Math.max(0, Math.min(items.length - 1, i + MOVES[e.key]))].focus();
  });
}

/**
 * Hovering or focusing a line lights its box, and hovering a box lights its line; a line stays lit
 * while it has the focus, whatever the pointer does. Clicking or tapping a box focuses its line: on
 * a touch screen, where nothing hovers, that is how a box shows its line.
 */
function linkHighlight(card, item, polygon) {
  let hovered = false;
  const light = () => {
    const on = hovered || document.activeElement === item;
    item.classList.toggle('active', on);
    if (!on) item.classList.remove('dismissed');
    polygon.classList.toggle('active', on);
  };
  for (const element of [item, polygon]) {
    element.addEventListener('pointerenter', () => {
      hovered = true;
      light();
    });
    element.addEventListener('pointerleave', () => {
      hovered = false;
      light();
    });
  }
  item.addEventListener('focus', light);
  item.addEventListener('blur', light);
  // In reading order the line is brought into view (below the picture, which stays); as on the page it is beside the box.
  polygon.addEventListener('click', () => item.focus({ preventScroll: card.dataset.view === 'page' }));
}

/**
 * A lit line's confidence label, placed as on the page, covers what lies above the line: Escape hides
 * it where the pointer or the focus is (WCAG 1.4.13), until the line is lit again.
 */
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') for (const item of results.querySelectorAll('.lines li.active')) item.classList.add('dismissed');
});

async function copyText(text) {
  if (navigator.clipboard) return navigator.clipboard.writeText(text);
  // Served over plain HTTP to another host the page is no secure context and has no clipboard API.
  const area = Object.assign(document.createElement('textarea'), { value: text, readOnly: true });
  // Selecting the text focuses the area: the focus goes back where it was, not to the page's top, once it is removed.
  const focused = document.activeElement;
  document.body.append(area);
  area.select();
  const copied = document.execCommand('copy');
  area.remove();
  focused?.focus({ preventScroll: true });
  if (!copied) throw new Error('the browser refused; use Download TXT');
}

fileInput.addEventListener('change', () => {
  addFiles([...fileInput.files]);
  fileInput.value = '';
});
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', (e) => {
  if (e.relatedTarget === null) document.body.classList.remove('dragging');
});
/** A FileSystemEntry method's callbacks as a promise. */
const promised = (call) => new Promise((resolve, reject) => call(resolve, reject));

const byName = (a, b) => a.name.localeCompare(b.name, undefined, { numeric: true });

/**
 * The images under a folder dropped, at any depth, each folder's in the order of their names; its
 * other files (notes, thumbnail caches) are left out. A browser hands a folder dropped over as a
 * file it cannot read: sent as such, it failed as a lost connection does.
 */
async function folderImages(folder) {
  const reader = folder.createReader();
  const entries = [];
  // readEntries answers in batches (Chromium's: 100 entries) until one comes empty.
  for (;;) {
    const batch = await promised((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    entries.push(...batch);
  }
  const found = await Promise.all(
    entries.sort(byName).map(async (entry) => {
      if (entry.isDirectory) return folderImages(entry);
      const file = await promised((resolve, reject) => entry.file(resolve, reject));
      return file.type.startsWith('image/') ? [file] : [];
    }),
  );
  return found.flat();
}

/** What was dropped, its folders replaced by the images in them; `entries` and `files` in the drop's order. */
async function addDropped(entries, files) {
  let found;
  try {
    found = (await Promise.all(entries.map((entry, i) => (entry?.isDirectory ? folderImages(entry) : [files[i]])))).flat();
  } catch (err) {
    return sayNothingRead(`The folder dropped could not be read (${err.message}): choose the images in it instead.`);
  }
  if (found.length === 0) return sayNothingRead('The folder dropped holds no image: drop or choose the images themselves.');
  addFiles(found);
}

document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const files = [...e.dataTransfer.files];
  if (files.length === 0) {
    return sayNothingRead('What was dropped holds no file, only a link or text: save the image first, then drop or choose the file.');
  }
  // The entries, which tell a folder from a file, are to be had during the event only.
  const entries = [...e.dataTransfer.items].filter((item) => item.kind === 'file').map((item) => item.webkitGetAsEntry());
  if (entries.some((entry) => entry?.isDirectory)) return addDropped(entries, files);
  addFiles(files);
});
// Apple's keyboards paste with Command.
if (/Mac|iPhone|iPad/.test(navigator.userAgent)) document.querySelector('#paste-keys').textContent = '⌘V';
document.addEventListener('paste', (e) => {
  const files = [...e.clipboardData.files];
  if (files.length > 0) {
    e.preventDefault();
    return addFiles(files.map(pastedImage));
  }
  // Text pasted into a field is the field's.
  if (!(e.target.isContentEditable || e.target.matches?.('input:not([type="file"], [type="radio"]), textarea'))) {
    sayNothingRead('The clipboard holds no image, only text or a file’s name: copy the image itself (“Copy image”), or choose the file.');
  }
});

// The server's defaults as the options' placeholders, without which the fields are only blank, and its limit; true once shown.
function showDefaults() {
  return fetch('api/info', { headers: authorization(), signal: AbortSignal.timeout(INFO_WAIT_MS) })
    .then((response) => response.json())
    .then(({ data: { defaults, limits } }) => {
      // An answer without limits still has its defaults shown: the server then refuses a file too large itself.
      if (limits?.max_message_bytes > 0) maxImageBytes = limits.max_message_bytes;
      if (limits?.max_pixels > 0) maxImagePixels = limits.max_pixels;
      options.elements.max_side_len.placeholder = `${defaults.max_side_len} (server default)`;
      options.elements.min_confidence.placeholder = `${defaults.min_confidence} (server default)`;
      options.elements.use_angle_cls.options[0].text = `server default (${defaults.use_angle_cls ? 'yes' : 'no'})`;
      options.elements.auto_rotate.options[0].text = `server default (${defaults.auto_rotate ? 'yes' : 'no'})`;
      return true;
    })
    .catch(() => false);
}
serverInfo = showDefaults();
tokenInput.addEventListener('change', () => {
  const token = tokenInput.value.trim();
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  // The images refused for want of a token go again with it: one field to fill, not a button to press per image.
  if (token) for (const again of results.querySelectorAll('.result[data-wants-token] .again')) again.click();
  // A server with tokens on tells its defaults only to a caller with one.
  serverInfo = showDefaults();
});
