/**
 * A stand-in for inference-worker.ts that speaks its protocol without models, for testing the pool.
 * A recognize task's image says what to do: width = milliseconds to keep the thread busy (as a
 * model call does), height 0 = exit with code 3 afterwards (a crash), channels 1 = spend that time
 * marked as inside a native call (worker-phase.ts), and exit if retired meanwhile. The reply's one line holds
 * the absolute times the task began and ended, as JSON. It loads no models: a manifestPath of
 * `slow:<ms>` makes each worker but the wide (first) one take that long to be ready. A request to
 * collect garbage is answered once the task before it is done, as the real worker answers it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PHASE_JS, PHASE_NATIVE, PHASE_RETIRED } from '../../src/engine/runtime/worker-phase.js';
import type {
  LinesReply,
  ReadLinesTask,
  WorkerCollect,
  WorkerCollected,
  WorkerConfig,
  WorkerRequest,
  WorkerResponse,
} from '../../src/engine/runtime/worker-protocol.js';

const port = parentPort!;
const { phase, wide, manifestPath } = workerData as WorkerConfig;
const now = (): number => performance.timeOrigin + performance.now();

port.on('message', (request: WorkerRequest | WorkerCollect) => {
  if ('collectGarbage' in request) {
    port.postMessage({ collected: true } satisfies WorkerCollected);
    return;
  }
  const began = now();
  const { width: busyMs, height, channels } = (request.task as ReadLinesTask).image;
  const native = channels === 1 && Atomics.compareExchange(phase, 0, PHASE_JS, PHASE_NATIVE) === PHASE_JS;
  while (now() - began < busyMs) {
    // Hold the thread, as onnxruntime's run() does.
  }
  if (native && Atomics.compareExchange(phase, 0, PHASE_NATIVE, PHASE_JS) === PHASE_RETIRED) process.exit(0);
  if (height === 0) process.exit(3);
  const ended = now();
  const reply: LinesReply = { lines: [{ text: JSON.stringify({ began, ended }), confidence: 1, angle: 0 }], classifyMs: 0, recognizeMs: 0 };
  port.postMessage({ id: request.id, ok: true, reply, elapsedMs: ended - began } satisfies WorkerResponse);
});
const loadMs = wide ? 0 : Number(/^slow:(\d+)$/.exec(manifestPath)?.[1] ?? 0);
setTimeout(() => port.postMessage({ ready: true }), loadMs);
