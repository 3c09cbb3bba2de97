import { expect } from 'chai';

import { jsonLine, roundTo, toJson } from '../../src/cli/json-lines.js';
import type { FileResult } from '../../src/cli/file-result.js';

describe('ocr recognize --json lines', () => {
  it('prints a result in the documented shape, key order and layout', () => {
    const result: FileResult = {
      file: 'scans/a.png',
      width: 800,
      height: 300,
      instance: 'ocr-1',
      lines: [
        {
          text: '发票 Total',
          confidence: 0.97123456,
          box: [
            { x: 42.04, y: 46.86 },
            { x: 381, y: 46.86 },
            { x: 381, y: 83.35 },
            { x: 42.04, y: 83.35 },
          ],
        },
      ],
    };
    expect(jsonLine(result)).to.equal(
      '{"file": "scans/a.png", "width": 800, "height": 300, "instance": "ocr-1", "lines": ' +
        '[{"text": "发票 Total", "confidence": 0.9712, "box": [[42, 46.9], [381, 46.9], [381, 83.4], [42, 83.4]]}]}',
    );
  });

  it('prints a failure as file and error only', () => {
    const line = jsonLine({ file: 'x.jpg', error: { code: 'INVALID_ARGUMENT', message: 'image is "empty"' } });
    expect(line).to.equal('{"file": "x.jpg", "error": {"code": "INVALID_ARGUMENT", "message": "image is \\"empty\\""}}');
    expect(JSON.parse(line)).to.deep.equal({ file: 'x.jpg', error: { code: 'INVALID_ARGUMENT', message: 'image is "empty"' } });
  });

  it('prints the rotation found after the size, when the server said it', () => {
    expect(jsonLine({ file: 'turned.png', width: 300, height: 800, rotation: 90, instance: 'i', lines: [] })).to.equal(
      '{"file": "turned.png", "width": 300, "height": 800, "rotation": 90, "instance": "i", "lines": []}',
    );
  });

  it('prints a file without lines with an empty list', () => {
    expect(jsonLine({ file: 'blank.png', width: 10, height: 10, instance: 'i', lines: [] })).to.equal(
      '{"file": "blank.png", "width": 10, "height": 10, "instance": "i", "lines": []}',
    );
  });

  it('stays one line and valid JSON whatever the text holds', () => {
    const text = 'line\nbreak\t"quoted"\\ \u2028 end';
    const line = jsonLine({ file: 'a\nb.png', width: 1, height: 1, instance: 'i', lines: [{ text, confidence: 1, box: [] }] });
    expect(line).not.to.include('\n');
    const parsed = JSON.parse(line) as { file: string; lines: { text: string }[] };
    expect(parsed.lines[0]!.text).to.equal(text);
    expect(parsed.file).to.equal('a\nb.png');
  });

  it('rounds half away from the float noise of float32 values, and never prints -0', () => {
    expect(roundTo(0.9700000286102295, 4)).to.equal(0.97);
    expect(roundTo(0.99995, 4)).to.equal(1);
    expect(roundTo(12.349999, 1)).to.equal(12.3);
    expect(Object.is(roundTo(-0.04, 1), 0)).to.equal(true);
    expect(toJson([roundTo(-0.01, 1)])).to.equal('[0]');
  });

  it('leaves undefined fields out', () => {
    expect(toJson({ a: 1, b: undefined, c: [null, 'x'] })).to.equal('{"a": 1, "c": [null, "x"]}');
  });
});
