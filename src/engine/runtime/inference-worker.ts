/**
 * An inference worker: owns one set of onnxruntime sessions and runs one task at a time, each a
 * named stage of the pipeline (decode, detect, read lines: crop → classify → recognize), with no
 * decision of its own. onnxruntime-node's run() blocks its thread, so inference never runs on the
 * main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OcrError } from '../../shared/errors.js';
import { Classifier } from '../classify/classifier.js';
import { buildCharset } from '../recognize/ctc.js';
import { Detector } from '../detect/detector.js';
import { wholeImageQuad } from '../detect/geometry.js';
import { loadManifest, readDictionary } from './manifest.js';
import { decodePlainJpeg, loadJpegDecoder } from '../decode/jpeg-decoder.js';
import { decodePlainPng } from '../decode/png-decoder.js';
import { Recognizer } from '../recognize/recognizer.js';
import { collectGarbage } from './collect-garbage.js';
import { detectPage, readLines, type LineModels } from '../pipeline.js';
import { decodeImage } from '../decode/decode.js';
import { SharpInput } from '../decode/sharp-input.js';
import { loadModel } from './model-cache.js';
import { loadSharp } from '../../shared/load-sharp.js';
import { createSession, markNativeCallsIn } from './sessions.js';
import { asNative } from './worker-phase.js';
import { lowerThreadPriority, WORKER_NICE } from './thread-priority.js';
import type { DetectOptions } from '../detect/detector.js';
import type { RawImage, Rotation } from '../types.js';
import type {
  DecodeReply,
  DetectReply,
  EncodedLineReply,
  LinesReply,
  SharedImage,
  Task,
  WorkerCollect,
  WorkerCollected,
  WorkerConfig,
  WorkerRequest,
  WorkerResponse,
} from './worker-protocol.js';

// Before onnxruntime starts its threads, so that they inherit it.
lowerThreadPriority(WORKER_NICE);
const config = workerData as WorkerConfig;
markNativeCallsIn(config.phase);
const manifest = loadManifest(config.manifestPath);
const charset = buildCharset(readDictionary(manifest), manifest.rec.blankIndex, manifest.rec.appendSpace);

const [detModel, recModel, clsModel] = await Promise.all([
  loadModel(config.models.det),
  loadModel(config.models.rec),
  config.models.cls ? loadModel(config.models.cls) : null,
]);
const [detBounded, recSession, clsSession] = await Promise.all([
  createSession(detModel, { threads: 1, memArena: true }),
  createSession(recModel, { threads: config.threads, memArena: true }),
  clsModel ? createSession(clsModel, { threads: config.threads, memArena: true }) : null,
  loadJpegDecoder(),
]);
/**
 * What the worker needs only for some calls, or not in its first moments, made just after it has
 * said it is ready: a start waits for none of it, and a call that needs it first waits for it. A
 * failure reaches the call that needs it.
 */
function afterReady<T>(make: () => Promise<T>): Promise<T> {
  const made = new Promise<T>((resolve, reject) =>
    setImmediate(() => {
      make().then(resolve, reject);
    }),
  );
  made.catch(() => undefined);
  return made;
}
// libvips, about 0.15 s of the worker's thread to load: every page's resize, and the images that
// MozJPEG and the PNG reader do not take. First of what follows the ready message; marked native,
// as its addon's start is, so that the pool does not terminate the worker in the middle of it.
void afterReady(() => asNative(config.phase, loadSharp));
const detector = new Detector(
  {
    bounded: detBounded,
    ...(config.wide && config.detectorThreads > 1
      ? { boundedParallel: afterReady(() => createSession(detModel, { threads: config.detectorThreads, memArena: true })) }
      : {}),
    unbounded: afterReady(() => createSession(detModel, { threads: config.detectorThreads, memArena: false })),
    boundedPixels: config.detArenaPixels,
  },
  manifest.det,
);
const recognizer = new Recognizer(recSession, manifest.rec, charset);
const classifier = clsSession && manifest.cls ? new Classifier(clsSession, manifest.cls) : null;

const lineModels: LineModels = {
  recognizer: {
    inputHeight: recognizer.inputHeight,
    maxWidth: manifest.rec.maxWidth,
    recognizeBatch: (crops, whole) => recognizer.recognizeBatch(crops, whole),
  },
  classifier:
    classifier && manifest.cls
      ? {
          inputHeight: classifier.inputHeight,
          inputWidth: classifier.inputWidth,
          threshold: manifest.cls.threshold,
          classify: (crops) => classifier.classify(crops),
        }
      : null,
  batchSize: config.recBatchSize,
};

const view = (image: SharedImage): RawImage => ({
  // Pooled buffers may be larger than the image.
  data: new Uint8Array(image.buffer, 0, image.width * image.height * image.channels),
  width: image.width,
  height: image.height,
  channels: image.channels,
});

async function run(task: Task, alone: boolean): Promise<DetectReply | LinesReply | EncodedLineReply | DecodeReply> {
  if (task.kind === 'decode') {
    const started = performance.now();
    const { image } = await decodeImage(new SharpInput(task.bytes, undefined, task.textless), task.limits);
    if (image.data.length > task.target.byteLength) {
      throw new OcrError('INVALID_ARGUMENT', `image decoded to ${image.width}×${image.height}, larger than its header declares`);
    }
    new Uint8Array(task.target).set(image.data);
    return { width: image.width, height: image.height, decodeMs: performance.now() - started };
  }
  if (task.kind === 'detect') {
    const models = {
      ...lineModels,
      detect: async (image: RawImage, options: DetectOptions, turn: Rotation) => (await detector.detect(image, options, alone, turn)).boxes,
    };
    return detectPage(models, view(task.image), task.options, task.autoRotate);
  }
  if (task.kind === 'encodedLine') {
    const started = performance.now();
    const image = task.format === 'png' ? decodePlainPng(task.bytes) : await decodePlainJpeg(task.bytes);
    const decodeMs = performance.now() - started;
    const quads = [wholeImageQuad(image.width, image.height)];
    return { ...(await readLines(lineModels, image, quads, { useAngleCls: task.useAngleCls, wholeLines: true })), decodeMs };
  }
  return readLines(lineModels, view(task.image), task.quads, task);
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
  });
});
port.postMessage({ ready: true });
