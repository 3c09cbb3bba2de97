/**
 * grpc-js's StreamDecoder, which cuts a call's byte stream into its gRPC messages, keeps every
 * chunk of a message and joins them (Buffer.concat) when the last one arrives: for a 30 MB image,
 * one 60-80 ms copy into fresh pages in a single callback, and in a burst of large uploads several
 * of those back to back were most of what kept another caller waiting (docs/BENCHMARKS.md, "Bursts
 * of large uploads"). Here the message's buffer is allocated once its length prefix has been read
 * and each chunk is copied in as it arrives, so the copying is spread over the upload; a large
 * message's buffer comes ready from a stock, resident, so that the copying costs no page faults. Same
 * contract: write(chunk) returns the messages it completed, each with its 5-byte prefix, and throws
 * on one longer than the limit.
 *
 * The decoder is internal to grpc-js (build/src/stream-decoder.js), so it is replaced only on the
 * version it was written against; any other keeps its own.
 */
import { createRequire } from 'node:module';
import { SharedBufferThread } from '../engine/index.js';
import { WarmBufferStock } from './warm-buffer-stock.js';

const PATCHED_VERSION = /^1\.14\./;
const PREFIX = 5;

interface Decoder {
  maxReadMessageLength: number;
  write(data: Buffer): Buffer[];
}

/** Where a stream's decoding stands between chunks: a length prefix being read, or a message being filled. */
export interface Progress {
  header: Buffer;
  headerFilled: number;
  message: Buffer | undefined;
  messageFilled: number;
}

export const startProgress = (): Progress => ({ header: Buffer.alloc(PREFIX), headerFilled: 0, message: undefined, messageFilled: 0 });

/**
 * The messages `data` completes, continuing from where the last chunk left `state`; `allocate`
 * gives a message its buffer (prefix included) once its length is known.
 */
export function decodeChunk(
  state: Progress,
  data: Buffer,
  maxLength: number,
  allocate: (bytes: number) => Buffer = (bytes) => Buffer.allocUnsafe(bytes),
): Buffer[] {
  const done: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    if (state.message === undefined) {
      const take = Math.min(PREFIX - state.headerFilled, data.length - at);
      data.copy(state.header, state.headerFilled, at, at + take);
      state.headerFilled += take;
      at += take;
      if (state.headerFilled < PREFIX) break;
      const length = state.header.readUInt32BE(1);
      if (maxLength !== -1 && length > maxLength) {
        throw new Error(`Received message larger than max (${length} vs ${maxLength})`);
      }
      state.message = allocate(PREFIX + length);
      state.header.copy(state.message, 0);
      state.messageFilled = PREFIX;
      state.headerFilled = 0;
    }
    const take = Math.min(state.message.length - state.messageFilled, data.length - at);
    data.copy(state.message, state.messageFilled, at, at + take);
    state.messageFilled += take;
    at += take;
    if (state.messageFilled === state.message.length) {
      done.push(state.message);
      state.message = undefined;
    }
  }
  return done;
}

/**
 * Process-wide, as the decoder they serve: messages of 4 MiB and more are assembled in resident
 * shared memory (warm-buffer-stock.ts), up to four of the largest default message kept ready: with
 * two, the burst of a hundred 30 MB uploads often found the stock empty, and GetServerInfo beside
 * it went past its 200 ms (docs/BENCHMARKS.md, "Bursts of large uploads").
 */
const bufferThread = new SharedBufferThread();
export const messageBuffers = new WarmBufferStock((bytes) => bufferThread.allocate(bytes), 4 << 20, 128 << 20);

/** A message's buffer: from the stock when it has one that fits, else an ordinary one. */
function allocateMessage(bytes: number): Buffer {
  const warm = messageBuffers.take(bytes);
  return warm ? Buffer.from(warm, 0, bytes) : Buffer.allocUnsafe(bytes);
}

let installed: boolean | undefined;

/** Replace grpc-js's StreamDecoder.write, once per process; true when it is replaced. */
export function installIncrementalDecoder(): boolean {
  if (installed !== undefined) return installed;
  const require = createRequire(import.meta.url);
  const version = (require('@grpc/grpc-js/package.json') as { version: string }).version;
  const module = require('@grpc/grpc-js/build/src/stream-decoder.js') as { StreamDecoder?: { prototype: Decoder } };
  installed = PATCHED_VERSION.test(version) && typeof module.StreamDecoder?.prototype.write === 'function';
  if (installed) {
    module.StreamDecoder!.prototype.write = function write(this: Decoder & { ocrProgress?: Progress }, data: Buffer): Buffer[] {
      this.ocrProgress ??= startProgress();
      return decodeChunk(this.ocrProgress, data, this.maxReadMessageLength, allocateMessage);
    };
  }
  return installed;
}
