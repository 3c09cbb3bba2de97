/**
 * How long a call's request may go without a byte while the server reads it. grpc-js reads a unary
 * call's request whole before its handler sees it and puts no limit on how long that takes: a call
 * without a deadline that sends part of its request and stalls holds its connection's upload place
 * (upload-gate.ts) and what it has sent for as long as the connection lives. The clock is the
 * message decoder's (incremental-decoder.ts), which sees every chunk; where grpc-js keeps its own
 * decoder there is no clock and no limit.
 */
import { OcrError } from '../shared/errors.js';
import { lastChunkAt } from './incremental-decoder.js';

/**
 * Call `onIdle` once the request that `decoder` reads has gone `idleMs` without a chunk while it was
 * read, counting from now (its upload turn); `readingSince` says since when it has been read,
 * undefined while the server holds it paused (upload-gate.ts). The function returned stops watching
 * (the request has arrived, or the call ended).
 */
export function watchUploadIdle(decoder: object, idleMs: number, onIdle: () => void, readingSince: () => number | undefined): () => void {
  if (lastChunkAt(decoder) === null) return () => undefined;
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    const since = readingSince();
    const left = since === undefined ? idleMs : Math.max(started, since, lastChunkAt(decoder) ?? started) + idleMs - performance.now();
    if (left > 0) timer = setTimeout(check, left).unref();
    else onIdle();
  };
  timer = setTimeout(check, idleMs).unref();
  return () => clearTimeout(timer);
}

/** The answer to a call whose request stopped coming for `idleMs`. */
export function uploadIdleError(idleMs: number): OcrError {
  return new OcrError(
    'DEADLINE_EXCEEDED',
    `no byte of this call's request for ${idleMs / 1000} s while the server was reading it, the server's limit; ` +
      'send the request without pausing',
  );
}
