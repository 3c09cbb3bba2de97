/**
 * A request body read whole into one buffer, for the parsers of raw image and JSON bodies. Fastify's
 * own reader (`parseAs: 'buffer'`) keeps every chunk and joins them when the last arrives: for a
 * 29 MB body, one copy of some 38 ms into fresh pages in a single callback, and 150 such bodies
 * ending together held another caller's GetServerInfo up to 700 ms (docs/BENCHMARKS.md, "Large bodies
 * over HTTP at once"). Here, as grpc-js's messages are read (src/server/incremental-decoder.ts), a
 * body that declares its length gets its buffer once an eighth of it has arrived, and each later
 * chunk is copied in as it comes, so that the copying is spread over the upload; the pages still
 * untouched cost no memory. A body without a length is joined at its end, as Fastify does. The
 * errors are Fastify's own, which the app answers (413, 400).
 */
import { errorCodes } from 'fastify';

/** Of a declared length, what must have arrived before the whole buffer is made. */
const EARNED_SHARE = 1 / 8;

/** The body of `payload` (paused or flowing), which declared `contentLength` (a header's text, or none), at most `limit` bytes. */
export function collectBody(payload: NodeJS.ReadableStream, contentLength: string | undefined, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = contentLength === undefined ? NaN : Number(contentLength);
    if (declared > limit) {
      reject(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    const sized = Number.isSafeInteger(declared) && declared >= 0;
    let chunks: Buffer[] = [];
    let whole: Buffer | undefined;
    let received = 0;
    const stop = (): void => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
    };
    const fail = (err: Error): void => {
      stop();
      reject(err);
    };
    function onData(chunk: Buffer | string): void {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (received + bytes.length > limit) return fail(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      if (sized && received + bytes.length > declared) return fail(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      if (whole) bytes.copy(whole, received);
      else {
        chunks.push(bytes);
        if (sized && received + bytes.length >= declared * EARNED_SHARE) {
          whole = Buffer.allocUnsafe(declared);
          let at = 0;
          for (const earlier of chunks) at += earlier.copy(whole, at);
          chunks = [];
        }
      }
      received += bytes.length;
    }
    function onEnd(): void {
      stop();
      if (sized && received !== declared) reject(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      // Always a copy, never a chunk itself: a view of the socket's read buffer would keep it whole.
      else resolve(whole ?? Buffer.concat(chunks, received));
    }
    function onError(err: Error & { statusCode?: number }): void {
      // As Fastify's reader: a stream's failure (the client gone, a stalled upload) is the request's, 400 unless it says otherwise.
      if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
      fail(err);
    }
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.resume();
  });
}
