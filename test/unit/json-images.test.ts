import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { HttpError } from '../../src/http/failure.js';
import { readJsonImages } from '../../src/http/json-images-thread.js';

const MB = 1024 * 1024;
/** Past the size read on a thread (json-images-thread.ts): 1.5 MB of image, 2 MB of base64. */
const image = randomBytes(1.5 * MB);
const base64 = image.toString('base64');

/** `text` as the parser hands it over, its own memory as a body read from a socket is. */
const body = (text: string): Buffer => Buffer.concat([Buffer.from(text)]);

const refusal = async (text: string, many = false): Promise<HttpError> => {
  try {
    await readJsonImages(body(text), many, 4, 32 * MB);
  } catch (err) {
    expect(err).to.be.instanceOf(HttpError);
    return err as HttpError;
  }
  throw new Error('read');
};

describe('readJsonImages (a JSON body read on a thread of its own when large)', () => {
  it('reads what JSON.parse reads: escapes in the string, whitespace, key order, the last of duplicate keys', async () => {
    const uEscaped = base64.replace(/A/g, '\\u0041');
    const forms = [
      JSON.stringify({ image: base64 }),
      // PHP's json_encode writes base64's slashes as \/.
      JSON.stringify({ image: base64 }).replaceAll('/', '\\/'),
      // MIME base64, a line break every 76 characters.
      JSON.stringify({ image: base64.replace(/.{76}/g, '$&\r\n') }),
      `{"options": {"a": 1}, "image": "${uEscaped}"}`,
      ` \n\t{ "image" :\r\n "${base64}" , "options":{} }\n `,
      `{"image": "${Buffer.from('other').toString('base64')}", "image": "${base64}"}`,
      JSON.stringify({ image: `data:image/png;base64,${base64}` }),
      JSON.stringify({ image: image.toString('base64url') }),
    ];
    for (const text of forms) {
      const read = await readJsonImages(body(text), false, 1, 32 * MB);
      expect(read.images, text.slice(0, 60)).to.have.length(1);
      expect(read.images[0]!.equals(image), text.slice(0, 60)).to.equal(true);
    }
    const read = await readJsonImages(body(`{"images": ["${base64}", "${base64}"], "options": {"x": [1]}}`), true, 4, 32 * MB);
    expect(read.images.map((one) => one.equals(image))).to.deep.equal([true, true]);
    expect(read.options).to.deep.equal({ x: [1] });
  });

  it('hands a large body over to its thread rather than copying it', async () => {
    const sent = body(JSON.stringify({ image: base64 }));
    await readJsonImages(sent, false, 1, 32 * MB);
    expect(sent.buffer.byteLength, 'the body, once handed over').to.equal(0);
  });

  it('reads more bodies at once than it runs threads, each in its turn', async () => {
    const many = Array.from({ length: 10 }, () => readJsonImages(body(JSON.stringify({ image: base64 })), false, 1, 32 * MB));
    for (const read of await Promise.all(many)) expect(read.images[0]!.equals(image)).to.equal(true);
  });

  it('refuses on its thread with the messages it gives on the main thread', async () => {
    const cases: [string, boolean, number, RegExp][] = [
      [`{"image": "${base64}"`, false, 400, /^the body is not valid JSON: /],
      [`["${base64}"]`, false, 400, /^the JSON body is an array; send an object: \{"image"/],
      [`{"image": "${base64}", "x": 1}`, false, 400, /^unknown field x; send "image"/],
      [`{"images": "${base64}"}`, true, 400, /^send "images": an array of base64 strings$/],
      [`{"image": "${base64}", "options": [1]}`, false, 400, /^"options" must be an object/],
      [`{"image": "${base64}!"}`, false, 400, new RegExp(`^image is not valid base64: '!' at character ${base64.length + 1};`)],
      [`{"images": [${Array(5).fill(`"${base64}"`).join(',')}]}`, true, 413, /^more than 4 images in one request/],
    ];
    for (const [text, many, status, message] of cases) {
      const err = await refusal(text, many);
      expect(err.status, err.message).to.equal(status);
      expect(err.message).to.match(message);
    }
    const tooLarge = await readJsonImages(body(JSON.stringify({ image: base64 })), false, 1, MB).catch((err: unknown) => err);
    expect(tooLarge).to.be.instanceOf(HttpError);
    expect((tooLarge as HttpError).status).to.equal(413);
  });
});
