/** `ocr recognize FILE...`: read files, send them, print results in argument order. */

import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';

import type { Priority } from '../client/call-settings.js';
import { DEADLINE_NO_INSTANCE, OcrCallError } from '../client/errors.js';
import { OcrClient } from '../client/ocr-client.js';
import type { LoadBalancing } from '../client/service-config.js';
import { recognizeLargeImage } from '../client/tile-stream.js';
import type { Line, RecognizeOptions } from '../gen/ocr/v1/ocr.js';
import { annotatedPath, checkAnnotatedPaths, makeAnnotateDir, writeAnnotated } from './annotate.js';
import { failure, isFailure, namingImage, withTilingHint, type FileFailure, type FileResult, type FileSuccess } from './file-result.js';
import { probeImage } from '../engine/index.js';
import { invalidArgument, resourceExhausted } from '../shared/errors.js';
import { lineTooLarge } from '../shared/image-limit.js';
import { jsonLine } from './json-lines.js';
import { planBatches } from './line-batches.js';
import { plainOutput, progressOutput, type Output } from './progress.js';
import { runInOrder } from './run-in-order.js';
import { cliToken, type TokenCliOptions } from './auth-options.js';
import { clientTls, type ClientTlsCliOptions } from './tls-options.js';
import { failureLine, listing } from './text-listing.js';
import { readInput, STDIN } from './read-input.js';

/** `--lines-only` answers carry no size: the client reads it from the headers as the server would, whatever the server's limits. */
const ANY_SIZE = { maxPixels: Number.POSITIVE_INFINITY, minSide: 0 };

/** TLS (`--tls`, `--tls-ca`, `--tls-cert`/`--tls-key`, `--tls-server-name`): tls-options.ts. */
export interface RecognizeCliOptions extends ClientTlsCliOptions, TokenCliOptions {
  target: string;
  /** Balancing over the target's instances (consul:// and multi-address targets). */
  lb: LoadBalancing;
  json?: boolean;
  linesOnly?: boolean;
  tileSize?: number;
  overlap: number;
  annotate?: string;
  concurrency: number;
  deadlineMs: number;
  priority?: Priority;
  minConfidence?: number;
  angleCls?: boolean;
  autoRotate?: boolean;
  maxSideLen?: number;
  minSideLen?: number;
  boxThreshold?: number;
  unclipRatio?: number;
}

/** Batch limits for --lines-only when the server does not say its own. */
const LINES_PER_CALL = 32;
const BYTES_PER_CALL = 16 * 1024 * 1024;
/** Room for the request's framing and options inside the server's message limit. */
const MESSAGE_OVERHEAD = 64 * 1024;
/** Below this many files a bar would only flicker. */
const PROGRESS_MIN_FILES = 6;

/** Unset flags stay unset, so that the server's defaults apply. */
export function recognizeOptions(opts: RecognizeCliOptions): RecognizeOptions {
  return {
    maxSideLen: opts.maxSideLen,
    minSideLen: opts.minSideLen,
    boxThreshold: opts.boxThreshold,
    unclipRatio: opts.unclipRatio,
    useAngleCls: opts.angleCls,
    autoRotate: opts.autoRotate,
    minConfidence: opts.minConfidence,
  };
}

/** Runs the command; resolves with the exit status: 1 if any file failed. */
export async function recognizeCommand(files: string[], opts: RecognizeCliOptions): Promise<number> {
  if (opts.annotate !== undefined) {
    checkAnnotatedPaths(opts.annotate, files);
    makeAnnotateDir(opts.annotate);
  }
  const tls = clientTls(opts);
  const token = cliToken(opts);
  const client = new OcrClient(opts.target, {
    deadlineMs: opts.deadlineMs,
    loadBalancing: opts.lb,
    ...(tls ? { tls } : {}),
    ...(token ? { token } : {}),
  });
  const output: Output =
    !opts.json && files.length >= PROGRESS_MIN_FILES && process.stderr.isTTY ? progressOutput(files.length) : plainOutput();
  const read = imageReader(opts.deadlineMs);
  let failed = false;
  const emit = (result: FileResult): void => {
    if (isFailure(result)) {
      failed = true;
      if (opts.json) output.out(`${jsonLine(result)}\n`);
      else output.err(failureLine(result));
    } else {
      output.out(opts.json ? `${jsonLine(result)}\n` : listing(result));
    }
    output.tick();
  };
  try {
    if (opts.linesOnly) {
      await recognizeLinesOnly(client, files, read, opts, emit);
    } else {
      const reach: Reach = {};
      await runInOrder(files, opts.concurrency, (file) => recognizeFile(client, file, read, opts, reach), emit);
    }
  } finally {
    output.stop();
    client.close();
  }
  return failed ? 1 : 0;
}

/**
 * Reads an input. `keep`: it is asked for again, and a pipe or standard input cannot be read twice
 * (--lines-only reads them for their size first): its bytes are kept for that one more ask.
 */
type ReadImage = (file: string, keep?: boolean) => Promise<Buffer>;

/** The input's bytes. An empty input fails here, in words about a file: the server's would speak of its request's "image" field. */
function imageReader(idleMs: number): ReadImage {
  const kept = new Map<string, Promise<Buffer>>();
  const read = async (file: string): Promise<Buffer> => {
    const image = await readInput(file, idleMs);
    if (image.length > 0) return image;
    throw invalidArgument(
      file === STDIN ? 'standard input is empty (0 bytes): pipe an image into it' : 'the file is empty (0 bytes): give an image file',
    );
  };
  return (file, keep = false) => {
    const once = kept.get(file);
    kept.delete(file);
    const bytes = once ?? read(file);
    if (keep) kept.set(file, bytes);
    return bytes;
  };
}

/**
 * The bytes an input will send, for planBatches: a file's size; a pipe's (`<(curl …)`, a FIFO) or
 * standard input's, which have none to stat, by reading it (kept for its batch); 0 for one that
 * cannot be read, which then fails in its batch.
 */
async function inputBytes(file: string, read: ReadImage): Promise<number> {
  try {
    const stats = file === STDIN ? undefined : await stat(file);
    if (stats?.isFile() || stats?.isDirectory()) return stats.size;
    return (await read(file, true)).length;
  } catch {
    return 0;
  }
}

/** What the calls so far found of the target, for the files still to send. */
interface Reach {
  /** A call's failure after its whole deadline passed with no instance ready to take it: each call after it would wait out its own too. */
  unreachable?: OcrCallError;
}

async function recognizeFile(
  client: OcrClient,
  file: string,
  read: ReadImage,
  opts: RecognizeCliOptions,
  reach: Reach,
): Promise<FileResult> {
  // Random, as the SDK's own: the server, which quotes it, is sent no local path (namingImage puts the file back).
  const imageId = randomUUID();
  try {
    const image = await read(file);
    // Checked here: a server refuses a file over its size limit unread, and told a large file that is no image to send it as tiles.
    await probeImage(image, ANY_SIZE);
    // Not a deadline more for each file: its failure at once, now its own header has said nothing else is wrong with it.
    if (reach.unreachable) throw reach.unreachable;
    let result: FileSuccess;
    if (opts.tileSize !== undefined) {
      const read = await recognizeLargeImage(client, image, {
        tileSize: opts.tileSize,
        overlap: opts.overlap,
        imageId,
        options: recognizeOptions(opts),
        priority: opts.priority,
      });
      result = { file, width: read.width, height: read.height, instance: read.instanceId, lines: read.lines };
    } else {
      const read = await client.recognize(image, recognizeOptions(opts), { priority: opts.priority });
      result = { file, width: read.width, height: read.height, rotation: read.rotation, instance: read.instanceId, lines: read.lines };
    }
    await annotate(image, result, opts);
    return result;
  } catch (err) {
    if (err instanceof OcrCallError && err.details === DEADLINE_NO_INSTANCE) reach.unreachable ??= err;
    return opts.tileSize === undefined ? withTilingHint(failure(file, err), 'whole') : namingImage(failure(file, err), imageId);
  }
}

async function annotate(image: Uint8Array, result: FileSuccess, opts: RecognizeCliOptions): Promise<void> {
  if (opts.annotate !== undefined)
    await writeAnnotated(image, result.lines, result.rotation ?? 0, annotatedPath(opts.annotate, result.file));
}

async function recognizeLinesOnly(
  client: OcrClient,
  files: string[],
  read: ReadImage,
  opts: RecognizeCliOptions,
  emit: (result: FileResult) => void,
): Promise<void> {
  let maxCount = LINES_PER_CALL;
  let maxBytes = BYTES_PER_CALL;
  /** The server's limit on a request's images, where it says it. */
  let maxImageBytes: number | undefined;
  try {
    // Batches must fit the server's limits, not just this client's guess at them.
    const { limits } = await client.getServerInfo();
    if (limits?.maxLinesPerRequest) maxCount = Math.min(maxCount, limits.maxLinesPerRequest);
    if (limits?.maxMessageBytes) {
      maxImageBytes = limits.maxMessageBytes;
      maxBytes = Math.max(1, limits.maxMessageBytes - MESSAGE_OVERHEAD);
    }
  } catch (err) {
    // A server that let the deadline pass on so small a question would let each batch's pass too.
    if (err instanceof OcrCallError && err.code === 'DEADLINE_EXCEEDED') {
      // A file that cannot be sent (missing, a directory, not an image) is failed for what is wrong with it, not for the deadline.
      await runInOrder(
        files,
        opts.concurrency,
        async (file) => {
          const entry = await lineImage(file, read, undefined);
          return 'image' in entry ? failure(file, err) : entry;
        },
        emit,
      );
      return;
    }
    // An unreachable server fails every batch below, each file with the call's own status.
  }
  const sizes = await Promise.all(files.map((file) => inputBytes(file, read)));
  const batches = planBatches(sizes, maxCount, maxBytes).map((indices) => indices.map((i) => files[i]!));
  await runInOrder(
    batches,
    opts.concurrency,
    (batch) => recognizeBatch(client, batch, read, opts, maxImageBytes),
    (results) => results.forEach(emit),
  );
}

interface LineImage {
  file: string;
  image: Buffer;
  width: number;
  height: number;
}

/** The file read and its size found, ready to send; or why it cannot be sent, found without the server. */
async function lineImage(file: string, read: ReadImage, maxImageBytes: number | undefined): Promise<LineImage | FileFailure> {
  try {
    const image = await read(file);
    // Its header first: a large file that is no image is not one to crop.
    const size = await probeImage(image, ANY_SIZE);
    // The server would refuse it unread, in words for a batch of many, since it cannot tell how many a message holds.
    if (maxImageBytes !== undefined && image.length > maxImageBytes) throw resourceExhausted(lineTooLarge(image.length, maxImageBytes));
    return { file, image, ...size };
  } catch (err) {
    return failure(file, err);
  }
}

/** `maxImageBytes`: the server's limit, over which a file is failed here, alone in its batch (planBatches). */
async function recognizeBatch(
  client: OcrClient,
  files: string[],
  read: ReadImage,
  opts: RecognizeCliOptions,
  maxImageBytes: number | undefined,
): Promise<FileResult[]> {
  const entries = await Promise.all(files.map((file) => lineImage(file, read, maxImageBytes)));
  const toSend = entries.filter((e): e is LineImage => 'image' in e);
  const answers = new Map<LineImage, FileResult>();
  if (toSend.length > 0) {
    try {
      const response = await client.recognizeLines(
        toSend.map((e) => e.image),
        recognizeOptions(opts),
        { priority: opts.priority },
      );
      if (response.results.length !== toSend.length) {
        throw new Error(`the server answered ${response.results.length} results for ${toSend.length} images`);
      }
      for (const [i, entry] of toSend.entries()) {
        const answer = response.results[i]!;
        answers.set(
          entry,
          answer.error
            ? withTilingHint({ file: entry.file, error: answer.error }, 'line')
            : {
                file: entry.file,
                width: entry.width,
                height: entry.height,
                instance: response.instanceId,
                lines: surelyRead(wholeImageLine(answer.text, answer.confidence, entry.width, entry.height), opts.minConfidence),
              },
        );
      }
    } catch (err) {
      for (const entry of toSend) answers.set(entry, withTilingHint(failure(entry.file, err), 'line'));
    }
  }
  return Promise.all(
    entries.map(async (entry) => {
      if (!('image' in entry)) return entry;
      const result = answers.get(entry)!;
      if (isFailure(result)) return result;
      try {
        await annotate(entry.image, result, opts);
        return result;
      } catch (err) {
        return failure(entry.file, err);
      }
    }),
  );
}

/**
 * The line, or none where it was read less surely than --min-confidence: RecognizeLines answers
 * every image, whatever its confidence (the server leaves lines out of pages alone).
 */
function surelyRead(line: Line, minConfidence: number | undefined): Line[] {
  return minConfidence !== undefined && line.confidence < minConfidence ? [] : [line];
}

/** The recognizer reads the whole image as one line, so its box is the image itself. */
function wholeImageLine(text: string, confidence: number, width: number, height: number): Line {
  const box = [
    { x: 0, y: 0 },
    { x: width, y: 0 },
    { x: width, y: height },
    { x: 0, y: height },
  ];
  return { text, confidence, box };
}
