import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';

import { DEFAULT_MANIFEST, loadManifest } from '../../src/engine/runtime/manifest.js';

describe('model manifest', () => {
  it("finds the model package of a copy of the bundled manifest outside the installation, as the installation's own", () => {
    // As an operator edits one for `ocr serve --models /etc/ocr/models.json`.
    const copy = path.join(mkdtempSync(path.join(os.tmpdir(), 'ocr-manifest-')), 'models.json');
    copyFileSync(DEFAULT_MANIFEST, copy);
    const { paths } = loadManifest(copy);
    expect(paths).to.deep.equal(loadManifest().paths);
    expect(existsSync(paths.det)).to.equal(true);
  });

  it('names the manifest and the file it names where a model file is not there', () => {
    const copy = path.join(mkdtempSync(path.join(os.tmpdir(), 'ocr-manifest-')), 'models.json');
    const bundled = readFileSync(DEFAULT_MANIFEST, 'utf8');
    const det = (JSON.parse(bundled) as { det: { file: string } }).det.file;
    writeFileSync(copy, bundled.replace(det, 'assets/missing_det.onnx'));
    expect(() => loadManifest(copy)).to.throw(
      new RegExp(
        `^model manifest ${copy.replace(/[.]/g, '\\.')} names assets/missing_det\\.onnx, which is not there \\(.*assets/missing_det\\.onnx\\): correct its path`,
      ),
    );
  });
});
