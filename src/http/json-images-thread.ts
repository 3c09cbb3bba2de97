/**
 * A JSON body's images read on a thread of its own when the body is large. On the main thread, a
 * 30 MB body of base64 held every other caller about 440 ms: 90 ms to make it a string, 90 ms to
 * parse it, 80 ms or more to decode the base64, each on fresh pages. A thread per body, made as it
 * is needed, ends with its work, and every page it touched goes with it; its body is handed over,
 * not copied (a copy of 30 MB took the main thread 80 ms), and so are the images it decodes.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { HttpError } from './failure.js';
import { jsonImages, type JsonImages } from './json-images.js';

/** Below this, a body is read where it is: a thread's start (tens of ms) would cost more than the work. */
const THREAD_BODY_BYTES = 1024 * 1024;

export interface JsonImagesTask {
  body: Uint8Array;
  many: boolean;
  maxImages: number;
  maxBytes: number;
}

/** The thread's answer: the images, or the refusal it met, as an HttpError's fields. */
export type JsonImagesAnswer =
  { images: Uint8Array[]; options: Record<string, unknown> } | { refusal: { status: number; code: string; message: string } };

/** The memory `bytes` views, where it is the whole of it: handed over whole, else copied. */
export function transferable(bytes: Uint8Array): ArrayBuffer[] {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  return whole ? [bytes.buffer as ArrayBuffer] : [];
}

const WORKER = new URL('./json-images-worker.js', import.meta.url);

/**
 * Threads reading at once; later bodies wait their turn. Each holds its body about four times over
 * (bytes, string, parsed, decoded) beside a thread's own 10 MB: without a bound, the hundreds of
 * the bodies the upload gate lets in together, each of 1 MiB or more, would start a thread each.
 */
const MAX_THREADS = 4;
let running = 0;
const waiting: (() => void)[] = [];

/** `work` once fewer than MAX_THREADS run, in the order of asking. */
async function inTurn<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_THREADS) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try {
    return await work();
  } finally {
    // A place given up passes straight to the next in line, which counts it as its own.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

/** The answer of a thread made to read `task`. */
async function onThread(task: JsonImagesTask): Promise<JsonImagesAnswer> {
  const worker = new Worker(WORKER, { workerData: task, transferList: transferable(task.body) });
  const [answer] = (await Promise.race([once(worker, 'message'), once(worker, 'exit').then(() => [undefined])])) as [
    JsonImagesAnswer | undefined,
  ];
  if (answer === undefined) throw new Error('the thread reading a JSON body ended without an answer; send the request again');
  return answer;
}

/** What `body` asks for (jsonImages); a large body is read on a thread of its own, and is then no longer the caller's. */
export async function readJsonImages(body: Buffer, many: boolean, maxImages: number, maxBytes: number): Promise<JsonImages> {
  if (body.length < THREAD_BODY_BYTES) return jsonImages(body, many, maxImages, maxBytes);
  const answer = await inTurn(() => onThread({ body, many, maxImages, maxBytes }));
  if ('refusal' in answer) throw new HttpError(answer.refusal.status, answer.refusal.code, answer.refusal.message);
  return { images: answer.images.map((i) => Buffer.from(i.buffer, i.byteOffset, i.byteLength)), options: answer.options };
}
