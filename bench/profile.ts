/**
 * Where a document's time goes: each stage of the pipeline on one core, in this thread, over the
 * development documents (second of two passes; the first warms up). Then the CPU time of decoding
 * a 1-bit 6320×6320 BMP (39.9 Mpx from 5 MB), the most pixels a byte of an uncompressed format holds.
 *   node dist/bench/profile.js [--set DIR] [--no-simplify] [--rec-precision float32|int8]
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cropQuad } from '../src/engine/recognize/crop.js';
import { buildCharset } from '../src/engine/recognize/ctc.js';
import { stripedOneBitBmp } from '../src/dev/bmp-file.js';
import { decodeBmp } from '../src/shared/bmp-decoder.js';
import { decodeImage, DEFAULT_DECODE_LIMITS } from '../src/engine/decode/decode.js';
import { Detector } from '../src/engine/detect/detector.js';
import { defaultEngineConfig } from '../src/engine/engine.js';
import { DEFAULT_MANIFEST, loadManifest, readDictionary } from '../src/engine/runtime/manifest.js';
import { Recognizer } from '../src/engine/recognize/recognizer.js';
import { readModelFile, readRecognizerModel } from '../src/engine/onnx-graph/rewrite.js';
import { createSession } from '../src/engine/runtime/sessions.js';
import type { Precision } from '../src/engine/types.js';
import { DEFAULT_ROW_MERGE_GAP, mergeRowNeighbours } from '../src/shared/row-merge.js';

const { values } = parseArgs({
  options: {
    set: { type: 'string', default: path.resolve('../shared/eval-dev/set') },
    'no-simplify': { type: 'boolean', default: false },
    'rec-precision': { type: 'string' },
  },
});
const simplify = !values['no-simplify'];
const m = loadManifest();
const recPrecision = (values['rec-precision'] ?? defaultEngineConfig(DEFAULT_MANIFEST, m).recPrecision) as Precision;
const maxSideLen = m.det.maxSideLen;
const detModel = readModelFile(m.paths.det, simplify);
const detector = new Detector(
  {
    bounded: await createSession(detModel, { threads: 1, memArena: true }),
    unbounded: await createSession(detModel, { threads: 1, memArena: false }),
    boundedPixels: maxSideLen ** 2,
  },
  m.det,
);
const charset = buildCharset(readDictionary(m), m.rec.blankIndex, m.rec.appendSpace);
const recognizer = new Recognizer(
  await createSession(readRecognizerModel(m.paths.rec, simplify, recPrecision), { threads: 1, memArena: true }),
  m.rec,
  charset,
);

const dir = path.join(values.set!, 'docs');
const files = readdirSync(dir)
  .filter((f) => /\.(jpe?g|png)$/.test(f))
  .sort();
const total = { decode: 0, detect: 0, crop: 0, recognize: 0, lines: 0, columns: 0 };
const lap = (since: number): number => performance.now() - since;

for (let pass = 0; pass < 2; pass++) {
  for (const file of files) {
    let t = performance.now();
    const { image } = await decodeImage(readFileSync(path.join(dir, file)), DEFAULT_DECODE_LIMITS);
    const decode = lap(t);
    t = performance.now();
    const found = await detector.detect(image, { maxSideLen, minSideLen: 0, db: m.det.db });
    const detect = lap(t);
    const quads = mergeRowNeighbours(
      found.boxes.map((b) => b.quad),
      DEFAULT_ROW_MERGE_GAP,
    );
    t = performance.now();
    const crops = quads.map((q) => cropQuad(image, q, recognizer.inputHeight, m.rec.maxWidth));
    const crop = lap(t);
    t = performance.now();
    for (const c of crops) await recognizer.recognizeBatch([c], false);
    const recognize = lap(t);
    if (pass === 0) continue;
    Object.assign(total, {
      decode: total.decode + decode,
      detect: total.detect + detect,
      crop: total.crop + crop,
      recognize: total.recognize + recognize,
      lines: total.lines + crops.length,
      columns: total.columns + crops.reduce((n, c) => n + c.width, 0),
    });
  }
}

const n = files.length;
const ms = (v: number): string => `${(v / n).toFixed(0)} ms`;
console.log(
  `${n} documents, graphs ${simplify ? 'simplified' : 'as shipped'}, recognizer in ${recPrecision}, per document on one core: decode ${ms(total.decode)}, ` +
    `detect ${ms(total.detect)}, crop ${ms(total.crop)}, recognize ${ms(total.recognize)} ` +
    `(${(total.lines / n).toFixed(1)} lines, average crop ${(total.columns / total.lines).toFixed(0)} px wide, ` +
    `${(total.recognize / total.lines).toFixed(1)} ms per line)`,
);

const bmp = stripedOneBitBmp(6320);
const bmpCpuMs = Array.from({ length: 3 }, () => {
  const before = process.cpuUsage();
  decodeBmp(bmp);
  const { user, system } = process.cpuUsage(before);
  return (user + system) / 1000;
}).sort((a, b) => a - b);
console.log(
  `a 1-bit 6320×6320 BMP (39.9 Mpx, ${(bmp.length / 1e6).toFixed(1)} MB): decoded in ${bmpCpuMs[1]!.toFixed(0)} ms of CPU (median of 3)`,
);
