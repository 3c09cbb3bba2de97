/**
 * The thread that reads one large JSON body's images (json-images-thread.ts): it answers once and
 * ends, its body and everything made from it freed with it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HttpError } from './failure.js';
import { jsonImages } from './json-images.js';
import { transferable, type JsonImagesAnswer, type JsonImagesTask } from './json-images-thread.js';

const { body, many, maxImages, maxBytes } = workerData as JsonImagesTask;
let answer: JsonImagesAnswer;
try {
  const { images, options } = jsonImages(body, many, maxImages, maxBytes);
  answer = { images, options };
} catch (err) {
  if (!(err instanceof HttpError)) throw err;
  answer = { refusal: { status: err.status, code: err.code, message: err.message } };
}
parentPort!.postMessage(answer, 'images' in answer ? answer.images.flatMap(transferable) : []);
