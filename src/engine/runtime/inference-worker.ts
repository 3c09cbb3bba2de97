/**
 * An inference worker: owns one set of onnxruntime sessions and runs one task at a time.
 * onnxruntime-node's run() blocks its thread, so inference never runs on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OcrError } from '../../shared/errors.js';
import { Classifier } from '../classify/classifier.js';
import { cropQuad } from '../recognize/crop.js';
import { buildCharset } from '../recognize/ctc.js';
import { Detector } from '../detect/detector.js';
import { wholeImageQuad } from '../detect/geometry.js';
import { rotate180 } from '../decode/image-ops.js';
import { loadManifest, readDictionary } from './manifest.js';
import { decodePlainJpeg, loadJpegDecoder } from '../decode/jpeg-decoder.js';
import { decodePlainPng } from '../decode/png-decoder.js';
import { Recognizer } from '../recognize/recognizer.js';
import { collectGarbage } from './collect-garbage.js';
import { decodeImage } from '../decode/decode.js';
import { createSession, markNativeCallsIn, readModelFile, readRecognizerModel } from './sessions.js';
import { isRetired } from './worker-phase.js';
import type { RawImage } from '../types.js';
import type {
  DecodeReply,
  DetectReply,
  EncodedLineReply,
  RecognizeReply,
  RecognizeTask,
  RecognizedLine,
  SharedImage,
  Task,
  WorkerCollect,
  WorkerCollected,
  WorkerConfig,
  WorkerRequest,
  WorkerResponse,
} from './worker-protocol.js';

const config = workerData as WorkerConfig;
markNativeCallsIn(config.phase);
const manifest = loadManifest(config.manifestPath);
const charset = buildCharset(readDictionary(manifest), manifest.rec.blankIndex, manifest.rec.appendSpace);

const model = (file: string): Uint8Array => readModelFile(file, config.simplifyGraphs);
const detModel = model(manifest.paths.det);
const [detBounded, detBoundedParallel, detUnbounded, recSession, clsSession] = await Promise.all([
  createSession(detModel, { threads: 1, memArena: true }),
  config.wide && config.detectorThreads > 1 ? createSession(detModel, { threads: config.detectorThreads, memArena: true }) : undefined,
  createSession(detModel, { threads: config.detectorThreads, memArena: false }),
  createSession(readRecognizerModel(manifest.paths.rec, config.simplifyGraphs, config.recPrecision), { threads: config.threads, memArena: true }),
  manifest.paths.cls ? createSession(model(manifest.paths.cls), { threads: config.threads, memArena: true }) : null,
  loadJpegDecoder(),
]);
const detector = new Detector(
  { bounded: detBounded, boundedParallel: detBoundedParallel, unbounded: detUnbounded, boundedPixels: config.detArenaPixels },
  manifest.det,
);
const recognizer = new Recognizer(recSession, manifest.rec, charset);
const classifier = clsSession && manifest.cls ? new Classifier(clsSession, manifest.cls) : null;

const view = (image: SharedImage): RawImage => ({
  // Pooled buffers may be larger than the image.
  data: new Uint8Array(image.buffer, 0, image.width * image.height * image.channels),
  width: image.width,
  height: image.height,
  channels: image.channels,
});

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function recognize(image: RawImage, task: Pick<RecognizeTask, 'quads' | 'useAngleCls' | 'wholeLines'>): Promise<RecognizeReply> {
  const crops = task.quads.map((quad) => cropQuad(image, quad, recognizer.inputHeight, manifest.rec.maxWidth));
  const angles = new Array<number>(crops.length).fill(0);
  let classifyMs = 0;
  if (task.useAngleCls && classifier && manifest.cls) {
    const started = performance.now();
    const small = task.quads.map((quad) => cropQuad(image, quad, classifier.inputHeight, classifier.inputWidth));
    const indices = small.map((_, i) => i);
    for (const batch of chunks(indices, config.recBatchSize)) {
      const found = await classifier.classify(batch.map((i) => small[i]!));
      found.forEach((o, k) => {
        const i = batch[k]!;
        if (o.angle === 180 && o.score >= manifest.cls!.threshold) {
          angles[i] = 180;
          crops[i] = rotate180(crops[i]!);
        }
      });
    }
    classifyMs = performance.now() - started;
  }
  const started = performance.now();
  const lines = new Array<RecognizedLine>(crops.length);
  // Similar widths in one batch: less padding to compute over.
  const order = crops.map((_, i) => i).sort((a, b) => crops[a]!.width - crops[b]!.width);
  for (const batch of chunks(order, config.recBatchSize)) {
    const texts = await recognizer.recognizeBatch(batch.map((i) => crops[i]!), task.wholeLines);
    texts.forEach((t, k) => {
      const i = batch[k]!;
      lines[i] = { text: t.text, confidence: t.confidence, angle: angles[i]! };
    });
  }
  return { lines, classifyMs, recognizeMs: performance.now() - started };
}

async function run(task: Task, alone: boolean): Promise<DetectReply | RecognizeReply | EncodedLineReply | DecodeReply> {
  if (task.kind === 'decode') {
    const started = performance.now();
    const { image } = await decodeImage(task.bytes, task.limits);
    if (image.data.length > task.target.byteLength) {
      throw new OcrError('INVALID_ARGUMENT', `image decoded to ${image.width}×${image.height}, larger than its header declares`);
    }
    new Uint8Array(task.target).set(image.data);
    return { width: image.width, height: image.height, decodeMs: performance.now() - started };
  }
  if (task.kind === 'detect') {
    const d = await detector.detect(view(task.image), task.options, alone);
    return { boxes: d.boxes, inputWidth: d.inputWidth, inputHeight: d.inputHeight };
  }
  if (task.kind === 'encodedLine') {
    const started = performance.now();
    const image = task.format === 'png' ? decodePlainPng(task.bytes) : await decodePlainJpeg(task.bytes);
    const decodeMs = performance.now() - started;
    const quads = [wholeImageQuad(image.width, image.height)];
    return { ...(await recognize(image, { quads, useAngleCls: task.useAngleCls, wholeLines: true })), decodeMs };
  }
  return recognize(view(task.image), task);
}

const port = parentPort!;

async function answer(request: WorkerRequest): Promise<void> {
  const started = performance.now();
  try {
    const reply = await run(request.task, request.alone);
    port.postMessage({ id: request.id, ok: true, reply, elapsedMs: performance.now() - started } satisfies WorkerResponse);
  } catch (err: unknown) {
    const code = err instanceof OcrError ? err.code : 'INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    port.postMessage({ id: request.id, ok: false, error: { code, message } } satisfies WorkerResponse);
  }
}

// The pool may post a task while another runs (WorkerPool's depth): they run one after another,
// in the order posted, never interleaved at their awaits.
let last: Promise<void> = Promise.resolve();
port.on('message', (request: WorkerRequest | WorkerCollect) => {
  last = last.then(async () => {
    if ('collectGarbage' in request) {
      collectGarbage();
      port.postMessage({ collected: true } satisfies WorkerCollected);
      return;
    }
    await answer(request);
    // The pool gave up on this worker during a native call (worker-phase.ts): its replacement runs.
    if (isRetired(config.phase)) process.exit(0);
  });
});
port.postMessage({ ready: true });
