/**
 * grpc-js's StreamDecoder, which cuts a call's byte stream into its gRPC messages, keeps every
 * chunk of a message and joins them (Buffer.concat) when the last one arrives: for a 30 MB image,
 * one 60-80 ms copy into fresh pages in a single callback, and in a burst of large uploads several
 * of those back to back were most of what kept another caller waiting (docs/BENCHMARKS.md, "Bursts
 * of large uploads"). Here the message's buffer is allocated once an eighth of it has arrived
 * (`earnedBytes`) and each later chunk is copied in as it arrives, so the copying is spread over the
 * upload; a large message's buffer comes ready from a stock, resident, or has its pages made
 * resident by another thread before the chunks are copied in, so that the copying costs no page
 * faults. Same contract: write(chunk) returns the messages it completed, each with its 5-byte
 * prefix, and throws on one longer than the limit.
 *
 * The decoder is internal to grpc-js (build/src/stream-decoder.js), so it is replaced only on the
 * version it was written against; any other keeps its own.
 */
import { createRequire } from 'node:module';
import { SharedBufferThread } from '../engine/index.js';
import { findUnderCall } from './call-chain.js';
import { StockLoans } from './stock-loans.js';
import { WarmBufferStock } from './warm-buffer-stock.js';

const PATCHED_VERSION = /^1\.14\./;
const PREFIX = 5;

interface Decoder {
  maxReadMessageLength: number;
  write(data: Buffer): Buffer[];
}

/**
 * A message's bytes are kept as they came until this many have arrived, and only then copied into
 * a buffer of its declared size: a client that declares a large message and stalls holds what it
 * sent, not what it declared. Buffers allocated at their declared size on the prefix alone, 160
 * stalled uploads of a declared 32 MiB were 5 GB of external memory to V8, which then collected
 * again and again and held the main thread for over a second (docs/BENCHMARKS.md, "Stalled uploads
 * on many connections"). An eighth keeps the copy done at once small beside the whole.
 */
export const earnedBytes = (length: number): number => Math.min(length, Math.max(1 << 20, Math.ceil(length / 8)));

/** Where a stream's decoding stands between chunks: a length prefix being read, or a message being filled. */
export interface Progress {
  header: Buffer;
  headerFilled: number;
  /** The message's length, its prefix included; 0 while a prefix is being read. */
  length: number;
  /** Its bytes arrived, its prefix included. */
  filled: number;
  /** Its bytes in its buffer, from the start. */
  copied: number;
  /** Its bytes arrived and not yet in its buffer: until it has earned one, and while that buffer's pages are not resident. */
  parts: Buffer[];
  message: Buffer | undefined;
}

export const startProgress = (): Progress => ({
  header: Buffer.alloc(PREFIX),
  headerFilled: 0,
  length: 0,
  filled: 0,
  copied: 0,
  parts: [],
  message: undefined,
});

/**
 * Where a stream's messages get their buffers: `ready` on the prefix, one whose holding costs
 * nothing more if the message stalls (none if there is no such one), else `allocate` once the
 * message has earned one. `arrived` after each chunk of a message with a buffer (its bytes so far);
 * `residentBytes`: how much of that buffer, from its start, may be copied into without faulting
 * its pages in on this thread (pages-ahead.ts); `completed` when the message is whole.
 */
export interface MessageAllocator {
  ready(bytes: number): Buffer | undefined;
  allocate(bytes: number): Buffer;
  arrived(bytes: number): void;
  residentBytes(): number;
  completed(): void;
}

const ordinary: MessageAllocator = {
  ready: () => undefined,
  allocate: (bytes) => Buffer.allocUnsafe(bytes),
  arrived: () => undefined,
  residentBytes: () => Infinity,
  completed: () => undefined,
};

/** A message whose length prefix declares more than the call may receive; grpc-js's own words. */
export class MessageTooLarge extends Error {
  constructor(
    readonly length: number,
    readonly maxLength: number,
  ) {
    super(`Received message larger than max (${length} vs ${maxLength})`);
  }
}

/** Copies the parts that end within the message's first `upTo` bytes into its buffer. */
function copyParts(state: Progress, upTo: number): void {
  let taken = 0;
  for (const part of state.parts) {
    if (state.copied + part.length > upTo) break;
    state.copied += part.copy(state.message!, state.copied);
    taken++;
  }
  state.parts.splice(0, taken);
}

/**
 * The messages `data` completes, continuing from where the last chunk left `state`; `buffers`
 * gives a message its buffer (prefix included).
 */
export function decodeChunk(state: Progress, data: Buffer, maxLength: number, buffers: MessageAllocator = ordinary): Buffer[] {
  const done: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    if (state.length === 0) {
      const take = Math.min(PREFIX - state.headerFilled, data.length - at);
      data.copy(state.header, state.headerFilled, at, at + take);
      state.headerFilled += take;
      at += take;
      if (state.headerFilled < PREFIX) break;
      const length = state.header.readUInt32BE(1);
      if (maxLength !== -1 && length > maxLength) throw new MessageTooLarge(length, maxLength);
      state.length = PREFIX + length;
      state.filled = PREFIX;
      state.message = buffers.ready(state.length);
      if (state.message) state.copied = state.header.copy(state.message, 0);
      else state.parts = [Buffer.from(state.header)];
      state.headerFilled = 0;
    }
    const piece = data.subarray(at, at + Math.min(state.length - state.filled, data.length - at));
    at += piece.length;
    state.parts.push(piece);
    state.filled += piece.length;
    if (!state.message && state.filled >= earnedBytes(state.length)) state.message = buffers.allocate(state.length);
    if (state.message) {
      buffers.arrived(state.filled);
      copyParts(state, state.filled === state.length ? Infinity : buffers.residentBytes());
    }
    if (state.filled === state.length) {
      done.push(state.message!);
      buffers.completed();
      state.message = undefined;
      state.length = 0;
      state.copied = 0;
    }
  }
  return done;
}

/**
 * Process-wide, as the decoder they serve: messages of 4 MiB and more are assembled in resident
 * shared memory (warm-buffer-stock.ts), up to four of the largest default message kept ready: with
 * two, the burst of a hundred 30 MB uploads often found the stock empty, and GetServerInfo beside
 * it went past its 200 ms (docs/BENCHMARKS.md, "Bursts of large uploads"). Messages still arriving
 * borrow as much as it holds at most (stock-loans.ts): a connection's four uploads at a time.
 */
const STOCK_BYTES = 128 << 20;
const bufferThread = new SharedBufferThread();
export const messageBuffers = new WarmBufferStock((bytes) => bufferThread.allocate(bytes), 4 << 20, STOCK_BYTES);
const loans = new StockLoans(messageBuffers, STOCK_BYTES);

/**
 * What a replaced decoder keeps for the server's upload bounds: when it last received a chunk
 * (performance.now()), for the upload idle limit (upload-idle.ts), and whom to tell how many bytes
 * of a message it holds after each chunk (the upload gate, upload-gate.ts).
 */
interface UploadWatch {
  ocrLastChunkAt: number;
  ocrOnHeld: ((bytes: number) => void) | undefined;
  ocrOnTooLarge: ((length: number) => void) | undefined;
  /** Set once a message too large was refused: the rest of the call's bytes are dropped unread. */
  ocrRefused: boolean;
}

const isDecoder = (value: unknown): value is object => typeof value === 'object' && value !== null && 'write' in value;

/** The message decoder under a grpc-js server call, if it can be found. */
export function findDecoder(call: object): object | null {
  return findUnderCall(call, 'decoder', isDecoder);
}

/**
 * When `decoder` last received a chunk: undefined before its first; null where grpc-js keeps its own
 * decoder, which keeps no such time.
 */
export function lastChunkAt(decoder: object): number | undefined | null {
  return installed ? (decoder as Partial<UploadWatch>).ocrLastChunkAt : null;
}

/**
 * Tell `onHeld`, after each chunk `decoder` receives from now on, how many bytes of a message not
 * yet whole it holds (0 once the message is whole); where grpc-js keeps its own decoder, nothing is told.
 */
export function reportHeldBytes(decoder: object, onHeld: (bytes: number) => void): void {
  if (installed) (decoder as Partial<UploadWatch>).ocrOnHeld = onHeld;
}

/**
 * Have `onTooLarge` answer a call whose next message declares more than it may receive, in place of
 * grpc-js's own answer (RESOURCE_EXHAUSTED "Received message larger than max (N vs M)", without the
 * trailers a caller needs to know that no retry helps); the call's later bytes are then dropped.
 * Where grpc-js keeps its own decoder, grpc-js answers.
 */
export function reportTooLarge(decoder: object, onTooLarge: (length: number) => void): void {
  if (installed) (decoder as Partial<UploadWatch>).ocrOnTooLarge = onTooLarge;
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
    type Decoding = Decoder & { ocrProgress?: Progress; ocrBuffers?: MessageAllocator } & Partial<UploadWatch>;
    module.StreamDecoder!.prototype.write = function write(this: Decoding, data: Buffer): Buffer[] {
      this.ocrLastChunkAt = performance.now();
      if (this.ocrRefused) return [];
      this.ocrProgress ??= startProgress();
      this.ocrBuffers ??= loans.forStream();
      let done: Buffer[];
      try {
        done = decodeChunk(this.ocrProgress, data, this.maxReadMessageLength, this.ocrBuffers);
      } catch (err) {
        if (!(err instanceof MessageTooLarge) || !this.ocrOnTooLarge) throw err;
        this.ocrRefused = true;
        this.ocrOnHeld?.(0);
        this.ocrOnTooLarge(err.length);
        return [];
      }
      this.ocrOnHeld?.(this.ocrProgress.length === 0 ? 0 : this.ocrProgress.filled);
      return done;
    };
  }
  return installed;
}
