/**
 * What the client refuses itself, before any call or connection: images that are not bytes, and
 * targets and options that no server could answer. No server runs here: each refusal must come
 * at once, with what to do, and not as a hang until the deadline or a status from the server.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { OcrCallError, OcrClient, recognizeLargeImage, recognizeLargeImageSpread, type RecognizeOptions } from '../../src/client/index.js';
import { solidImage } from '../support/images.js';

/** Nothing listens there: a call that reached the network would fail UNAVAILABLE, not as expected. */
const NOWHERE = '127.0.0.1:1';

describe('OcrClient refuses what it cannot send', () => {
  let client: OcrClient;

  before(() => {
    client = new OcrClient(NOWHERE, { deadlineMs: 2000 });
  });

  after(() => client.close());

  /** The rejection of `call`, which must reject and not throw synchronously. */
  async function refusal(call: () => Promise<unknown>): Promise<Error> {
    let pending: Promise<unknown>;
    try {
      pending = call();
    } catch (err) {
      throw new Error(`threw synchronously instead of rejecting: ${String(err)}`, { cause: err });
    }
    return pending.then(
      () => expect.fail('expected a rejection'),
      (err: unknown) => err as Error,
    );
  }

  it('rejects an image that is not bytes with a TypeError that says to send the file bytes', async () => {
    const cases: [unknown, RegExp][] = [
      ['scan.jpg', /got a string: read the file first/],
      [new ArrayBuffer(4), /got an ArrayBuffer: wrap it as new Uint8Array/],
      [null, /got null/],
      [undefined, /got undefined/],
      [[1, 2, 3], /got an Array/],
    ];
    for (const [image, hint] of cases) {
      const err = await refusal(() => client.recognize(image as Uint8Array));
      expect(err, String(image)).to.be.instanceOf(TypeError);
      expect(err.message, String(image)).to.match(/^image must be the encoded image file's bytes \(a Buffer or Uint8Array\)/);
      expect(err.message, String(image)).to.match(hint);
    }
  });

  it('rejects line images that are not an array of bytes, naming the one at fault', async () => {
    const notArray = await refusal(() => client.recognizeLines('a.png' as unknown as Uint8Array[]));
    expect(notArray).to.be.instanceOf(TypeError);
    expect(notArray.message).to.match(/^images must be an array of encoded line images/);
    const notBytes = await refusal(() => client.recognizeLines([Buffer.from('a'), 'b.png' as unknown as Uint8Array]));
    expect(notBytes).to.be.instanceOf(TypeError);
    expect(notBytes.message).to.match(/^images\[1\] must be the encoded image file's bytes .*got a string/);
  });

  it('rejects recognition options the wire cannot carry, or that are not options, naming the field, before any call', async () => {
    const image = await solidImage(64, 64);
    const cases: [unknown, typeof TypeError | typeof RangeError, RegExp][] = [
      [{ maxSideLen: -5 }, RangeError, /^options\.maxSideLen must be a whole number of pixels, got -5$/],
      [{ minSideLen: 1.5 }, RangeError, /^options\.minSideLen must be a whole number of pixels, got 1\.5$/],
      [{ minConfidence: 'x' }, TypeError, /^options\.minConfidence must be a number, got the string "x": pass Number\(text\)$/],
      [{ unclipRatio: 1e39 }, RangeError, /^options\.unclipRatio must be a number, got 1e\+39$/],
      // The encoder would send any truthy value as true: this "false" included.
      [{ useAngleCls: 'false' }, TypeError, /^options\.useAngleCls must be true or false, got the string "false"$/],
      // Call settings in the options' place would be dropped without a word, the deadline left at the default.
      [
        { deadlineMs: 5000 },
        RangeError,
        /^options\.deadlineMs is not a recognition option \(they are maxSideLen, .*pass them as the call's settings$/,
      ],
      ['fast', TypeError, /^options must be an object of recognition options \(maxSideLen, .*\), got a string$/],
    ];
    for (const [options, type, message] of cases) {
      const given = options as RecognizeOptions;
      const calls: [string, () => Promise<unknown>][] = [
        ['Recognize', () => client.recognize(image, given)],
        ['RecognizeLines', () => client.recognizeLines([image], given)],
        ['tiles', () => recognizeLargeImage(client, image, { tileSize: 32, options: given })],
        ['spread', () => recognizeLargeImageSpread(client, image, { tileSize: 32, options: given })],
      ];
      for (const [how, call] of calls) {
        const err = await refusal(call);
        expect(err, `${how} ${JSON.stringify(options)}`).to.be.instanceOf(type);
        expect(err.message, `${how} ${JSON.stringify(options)}`).to.match(message);
      }
    }
  });

  it('sends options given as null, and option fields given as null, as unset', async () => {
    const image = await solidImage(64, 64);
    for (const options of [null, { minConfidence: null, useAngleCls: undefined }]) {
      const err = await refusal(() => client.recognize(image, options as unknown as RecognizeOptions));
      // Sent: it fails only for want of a server at NOWHERE, not as a request the encoder could not write.
      expect(err, JSON.stringify(options)).to.be.instanceOf(OcrCallError);
      expect((err as OcrCallError).code, JSON.stringify(options)).to.equal('UNAVAILABLE');
    }
  });

  it('refuses at construction a target that is a URL, names no port without TLS or one outside 1 to 65535, or holds white space, saying how to write it', () => {
    const cases: [string, RegExp][] = [
      ['http://127.0.0.1:50051', /is a URL; a gRPC target has no http:\/\/ : use "127\.0\.0\.1:50051"/],
      ['https://ocr.internal:443/', /use "ocr\.internal:443" with the tls option \(the CLI's --tls\)/],
      [
        'ocr.internal',
        /names no port \(gRPC would dial 443, .*\): add the servers' gRPC port, e\.g\. "ocr\.internal:50051", or connect with the tls option \(the CLI's --tls\) to a TLS front on 443$/,
      ],
      ['127.0.0.1', /names no port/],
      [' 127.0.0.1:50051', /holds white space/],
      ['', /target must be a gRPC target such as "host:port"/],
      ['127.0.0.1:99999', /^target "127\.0\.0\.1:99999" names port 99999, outside 1 to 65535: give the servers' gRPC port/],
      ['dns:///ocr.internal:0', /names port 0, outside 1 to 65535/],
      ['ipv4:10.0.0.1:1,10.0.0.2:70000', /names port 70000, outside 1 to 65535/],
      ['[::1]:65536', /names port 65536/],
    ];
    for (const [target, message] of cases) {
      expect(() => new OcrClient(target), JSON.stringify(target)).to.throw(RangeError, message);
    }
    for (const target of [
      '127.0.0.1:50051',
      'ocr.internal:50051',
      '[::1]:50051',
      'dns:///ocr.internal:50051',
      'ipv4:10.0.0.1:1,10.0.0.2:2',
      'ipv6:[::1]:65535',
      'dns://8.8.8.8/ocr.internal:50051',
    ]) {
      new OcrClient(target).close();
    }
    // With TLS a bare host is a TLS front on gRPC's 443, as an ingress serves it.
    new OcrClient('ocr.internal', { tls: true }).close();
  });

  it('takes a list of servers by name or address, and refuses at construction one with an entry it cannot read, naming the entry', () => {
    for (const target of [
      '10.0.0.1:50051,10.0.0.2:50051',
      'dns:///10.0.0.1:50051,10.0.0.2:50051',
      '[::1]:50051,[::2]:50051',
      'ocr-1:50051,ocr-2:50051',
      'ocr_1.internal:50051,10.0.0.7:50051,[fd00::7]:50051',
    ]) {
      new OcrClient(target).close();
    }
    const cases: [string, RegExp][] = [
      [
        'ocr-1:50051,,ocr-2:50051',
        /^target "ocr-1:50051,,ocr-2:50051": entry 2 is empty \(a comma too many\?\): list each server once as HOST:PORT$/,
      ],
      ['ocr-1:50051,', /: entry 2 is empty/],
      [
        'ocr-1:50051,ocr-2',
        /^target "ocr-1:50051,ocr-2": entry "ocr-2" names no port: give each server's gRPC port, e\.g\. "ocr-2:50051"$/,
      ],
      ['ocr-1:50051,ocr-2:grpc', /: entry "ocr-2:grpc" names no port: give each server's gRPC port, e\.g\. "ocr-2:50051"$/],
      ['ocr-1:50051,[::2]', /: entry "\[::2\]" names no port: .* e\.g\. "\[::2\]:50051"$/],
      ['ocr-1:50051,ocr-2:70000', /: entry "ocr-2:70000" names port 70000, outside 1 to 65535: give the servers' gRPC port/],
      ['ocr-1:50051,ocr-2:0', /names port 0, outside 1 to 65535/],
      ['::1:50051,::2:50051', /: entry "::1:50051" holds an IPv6 address without brackets: write it \[ADDRESS\]:PORT$/],
      ['ocr-1:50051,fd00::7', /: entry "fd00::7" holds an IPv6 address without brackets/],
      ['ocr-1:50051,ocr-2:50051:1', /: entry "ocr-2:50051:1" is no HOST:PORT/],
      [
        'ocr-1:50051,ocr/2:50051',
        /: entry "ocr\/2:50051" is no HOST:PORT \(a host name, an IPv4 address or \[an IPv6 address\], and a port\)$/,
      ],
      ['ocr-1:50051,[ocr-2]:50051', /: entry "\[ocr-2\]:50051" is no HOST:PORT/],
      [
        'dns://10.0.0.53/ocr-1:50051,ocr-2:50051',
        /^target "dns:\/\/10\.0\.0\.53\/ocr-1:50051,ocr-2:50051" names a DNS server \(10\.0\.0\.53\) for a list of servers, .*: write the list alone, "ocr-1:50051,ocr-2:50051"$/,
      ],
    ];
    for (const [target, message] of cases) expect(() => new OcrClient(target), target).to.throw(RangeError, message);
  });

  it('refuses at construction a consul target that names no service or an unknown parameter, naming the target and its form', () => {
    const noService = (target: string): RegExp =>
      new RegExp(
        `^target "${target.replace(/[.?/]/g, '\\$&')}" names no Consul service as grpc-js reads it: write consul://AGENT_HOST:PORT/SERVICE\\[\\?tag=T&dc=D\\], or consul:///SERVICE for the agent CONSUL_HTTP_ADDR names`,
      );
    const cases: [string, RegExp][] = [
      // A service left out, or "//" left out, which grpc-js reads as a service named by the whole path.
      ['consul://127.0.0.1:8500', noService('consul://127.0.0.1:8500')],
      ['consul://127.0.0.1:8500/', noService('consul://127.0.0.1:8500/')],
      ['consul:127.0.0.1:8500/ocr', noService('consul:127.0.0.1:8500/ocr')],
      ['consul://127.0.0.1:8500/ocr?colour=red', /^target "consul:\/\/127\.0\.0\.1:8500\/ocr\?colour=red": .*unknown parameter "colour"/],
    ];
    for (const [target, message] of cases) expect(() => new OcrClient(target), target).to.throw(RangeError, message);
    for (const target of ['consul://127.0.0.1:8500/ocr', 'consul:///ocr', 'consul://consul.internal/ocr?tag=v4&dc=eu1']) {
      new OcrClient(target).close();
    }
  });

  it('refuses an unknown loadBalancing, which grpc-js would quietly replace with pick_first', () => {
    const loadBalancing = 'random' as unknown as 'round_robin';
    expect(() => new OcrClient(NOWHERE, { loadBalancing })).to.throw(
      RangeError,
      'loadBalancing must be one of round_robin, pick_first, least_request, got random',
    );
  });

  it('refuses spread options that would drop tiles or skip every round, and a nonsensical deadline, before any call', async () => {
    const image = await solidImage(64, 64);
    const cases: [object, RegExp][] = [
      [{ streams: 2.5 }, /^streams must be a whole number ≥ 1, got 2\.5/],
      [{ streams: 0 }, /^streams must be a whole number ≥ 1, got 0/],
      [{ streams: NaN }, /^streams must be a whole number ≥ 1, got NaN/],
      [{ maxRounds: -1 }, /^maxRounds must be a whole number ≥ 0, got -1/],
      [{ maxRounds: 1.5 }, /^maxRounds must be a whole number ≥ 0, got 1\.5/],
      [{ deadlineMs: 0 }, /^deadlineMs must be a number of milliseconds > 0/],
      [{ deadlineMs: -5 }, /^deadlineMs must be a number of milliseconds > 0/],
    ];
    for (const [options, message] of cases) {
      const err = await recognizeLargeImageSpread(client, image, { tileSize: 32, overlap: 8, ...options }).catch((e: unknown) => e);
      expect(err, JSON.stringify(options)).to.be.instanceOf(RangeError);
      expect((err as Error).message, JSON.stringify(options)).to.match(message);
    }
  });

  it("refuses the large-image helpers' bad call settings before it decodes the image, not once it has", async () => {
    // Not an image: decoded first, it would be refused as INVALID_ARGUMENT and the setting never named.
    const image = Buffer.from('not an image, which the helpers would decode before their first call');
    const cases: [object, RegExp][] = [
      [{ priority: 'urgent' }, /^priority must be one of interactive, batch, got urgent$/],
      [{ requestId: 'id\n2' }, /^x-request-id must be printable ASCII/],
      [{ deadlineMs: 0 }, /^deadlineMs must be a number of milliseconds > 0/],
    ];
    for (const [settings, message] of cases) {
      for (const helper of [recognizeLargeImage, recognizeLargeImageSpread]) {
        const err = await refusal(() => helper(client, image, { tileSize: 256, ...settings }));
        expect(err, `${helper.name} ${JSON.stringify(settings)}`).to.be.instanceOf(RangeError);
        expect(err.message, `${helper.name} ${JSON.stringify(settings)}`).to.match(message);
      }
    }
  });

  it('rejects a large image that is not bytes as Recognize does, and never reads a string as a file path', async () => {
    // sharp reads a string as a path: this one names a real image, which must not be read.
    const dir = await mkdtemp(join(tmpdir(), 'ocr-client-inputs-'));
    const path = join(dir, 'page.png');
    await writeFile(path, await solidImage(64, 64));
    const errors = await Promise.all(
      [recognizeLargeImage, recognizeLargeImageSpread].map((call) =>
        refusal(() => call(client, path as unknown as Uint8Array, { tileSize: 128 })),
      ),
    ).finally(() => rm(dir, { recursive: true }));
    for (const err of errors) {
      expect(err).to.be.instanceOf(TypeError);
      expect(err.message).to.match(
        /^image must be the encoded image file's bytes \(a Buffer or Uint8Array\), got a string: read the file first/,
      );
    }
  });

  it('rejects large-image options that are not an object, the tile size passed alone included, saying what to pass', async () => {
    const image = await solidImage(64, 64);
    const helpers = [
      ['recognizeLargeImage', recognizeLargeImage],
      ['recognizeLargeImageSpread', recognizeLargeImageSpread],
    ] as const;
    for (const [name, helper] of helpers) {
      for (const [options, hint] of [
        [undefined, 'got undefined'],
        [1024, 'got a number: pass { tileSize: 1024 }'],
      ] as const) {
        const err = await refusal(() => helper(client, image, options as unknown as { tileSize: number }));
        expect(err, `${name} ${String(options)}`).to.be.instanceOf(TypeError);
        expect(err.message, `${name} ${String(options)}`).to.equal(
          `${name} takes an options object with the tile size, e.g. { tileSize: 1024 }, ${hint}`,
        );
      }
    }
  });

  it('says that a token holds a line break or a space, which is what a token read from a file may hide', () => {
    for (const token of ['ocr_abc\n', 'ocr_abc def']) {
      expect(() => new OcrClient(NOWHERE, { token }), JSON.stringify(token)).to.throw(
        RangeError,
        'a bearer token is a non-empty string of letters, digits and -._~+/ (= at the end) (this one holds a space or a line break, as a token read from a file may: trim it)',
      );
    }
  });

  it('says what a token must be when the token function gives none, sync as async, before any call', async () => {
    for (const token of [() => undefined, async () => undefined, () => 42]) {
      const keyed = new OcrClient(NOWHERE, { token: token as unknown as () => string, deadlineMs: 2000 });
      const err = await refusal(() => keyed.getServerInfo());
      keyed.close();
      expect(err, String(token)).to.be.instanceOf(OcrCallError);
      expect((err as OcrCallError).code).to.equal('UNAUTHENTICATED');
      expect((err as OcrCallError).details, String(token)).to.match(
        /^no token to send: the token function failed: a bearer token is a non-empty string/,
      );
    }
  });
});
