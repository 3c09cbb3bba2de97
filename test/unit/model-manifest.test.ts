import { copyFileSync, existsSync, mkdtempSync } from 'node:fs';
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
});
