import { expect } from 'chai';
import { decodeBase64Image } from '../../src/http/base64-image.js';
import { HttpError } from '../../src/http/failure.js';

const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xfb, 0xff, 0x3e]);
const standard = bytes.toString('base64');

const refusal = (text: string): string => {
  try {
    decodeBase64Image(text, 'image');
  } catch (err) {
    expect(err).to.be.instanceOf(HttpError);
    expect((err as HttpError).status).to.equal(400);
    return (err as HttpError).message;
  }
  throw new Error(`decoded ${JSON.stringify(text)}`);
};

describe('decodeBase64Image', () => {
  it('decodes standard and URL-safe base64, padded or not, with line breaks, and behind a data: URL prefix', () => {
    const forms = [
      standard,
      bytes.toString('base64url'),
      standard.replace(/=+$/, ''),
      `${standard.slice(0, 8)}\r\n${standard.slice(8)}\n`,
      `${standard}\n`,
      `data:image/png;base64,${standard}`,
      `DATA:image/png;name=scan.png;base64,${standard}`,
    ];
    for (const text of forms) expect(decodeBase64Image(text, 'image'), JSON.stringify(text)).to.deep.equal(bytes);
  });

  it('refuses what Node would skip, saying which character and where', () => {
    expect(refusal('!!!')).to.equal(
      "image is not valid base64: '!' at character 1; send the file's bytes in base64 (standard or URL-safe; a data: URL also does)",
    );
    expect(refusal(`${standard}!!`)).to.match(new RegExp(`^image is not valid base64: '!' at character ${standard.length + 1};`));
    // One stray character alone, where the length still looks whole.
    expect(refusal(`iVBO*Rw0K`)).to.match(/'\*' at character 5;/);
    // A data: URL that is not base64 says so, not where its ':' is; the offset counted in the text as sent.
    for (const url of ['data:image/png,%89PNG', `DATA:image/jpeg,${standard}`, 'data:']) {
      expect(refusal(url), url).to.match(/^image is a data: URL without ;base64, which this API needs: send it as data:<type>;base64,/);
    }
    expect(refusal('data:image/png;base64,iVBO*')).to.match(/'\*' at character 27;/);
  });

  it('refuses two files run together: padding before the end, where Node stops', () => {
    expect(refusal(`${standard}${standard}`)).to.match(
      new RegExp(`^image is not valid base64: '=' at character ${standard.length}, before its end;`),
    );
  });
});
