/**
 * Any error of a backend → the HTTP answer: a status from the gRPC one, the same actionable
 * message, and Retry-After for a refusal that a retry can cure.
 */
import { CONNECTION_LOST } from '../client/errors.js';
import { ANSWER_MARGIN_MS } from '../shared/answer-deadline.js';
import { STARTING_MESSAGE, STARTING_REASON } from '../server/starting-service.js';
import { OcrError } from '../shared/errors.js';
import { newCallPushbackMs, type Trailers } from '../shared/pushback.js';

export interface HttpFailure {
  /** HTTP status. */
  status: number;
  /** The gRPC status name, e.g. RESOURCE_EXHAUSTED. */
  code: string;
  message: string;
  /** When a new request would fit, in milliseconds from now, for Retry-After (refusal-hold.ts); unset when retrying cannot help. */
  retryAfterMs?: number;
}

/** Clients that went away: nginx's convention, never seen by the client itself. */
export const CLIENT_CLOSED = 499;

/** What the log says of a request whose client closed its connection before sending all of its body. */
export const CLIENT_LEFT_MID_BODY = 'the client closed its connection before its request body had all come';

const STATUS: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  OUT_OF_RANGE: 400,
  FAILED_PRECONDITION: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  CANCELLED: CLIENT_CLOSED,
  UNIMPLEMENTED: 501,
};

/** An error thrown by the HTTP layer itself, for what gRPC has no status of (415), or in the HTTP API's own words. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** As HttpFailure's: set for a refusal that a later retry may cure. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The fields every backend error has: the local engine's OcrError, the SDK's OcrCallError. */
interface StatusError {
  code: string;
  message: string;
  /** OcrError: when the server expects room; undefined for a refusal that no retry can fix. */
  retryAfterMs?: number;
  /** OcrError: when a new call would fit, if sooner. */
  newCallAfterMs?: number;
  /** OcrCallError: the server's description and trailers (grpc-retry-pushback-ms). */
  details?: string;
  metadata?: Trailers;
}

const isStatusError = (err: unknown): err is StatusError => err instanceof Error && typeof (err as Partial<StatusError>).code === 'string';

/**
 * Milliseconds until a new request would fit, or undefined for "do not retry" (a gRPC pushback of
 * -1, or none). An HTTP client's next request is a new call with a whole timeout of its own, so
 * the new call's hint comes first, and the retry's (grpc-retry-pushback-ms) stands in without it.
 */
function pushbackMs(err: StatusError): number | undefined {
  if (err instanceof OcrError) return err.retryAfterMs === undefined ? undefined : (err.newCallAfterMs ?? err.retryAfterMs);
  const ms = err.metadata ? newCallPushbackMs(err.metadata) : null;
  return ms ?? undefined;
}

/**
 * Every DEADLINE_EXCEEDED past its deadline in the HTTP API's words: the deadline an HTTP caller sets is timeout_ms
 * (the gateway's --deadline-ms without one). The servers' own wordings (admission's "its deadline
 * leaves 2 ms", a worker's) name gRPC's deadline, and which one a request meets depends on timing
 * (an instance's refusal, or the answer's timer, answer-in-time.ts): one message keeps the answer
 * the same through an instance and through a gateway.
 */
export const TIMEOUT_PASSED =
  'timeout_ms passed before the answer came: allow a longer timeout_ms, or send a smaller image, or retry when the service is less busy';

/**
 * Admission's refusal of a call whose work would not fit in what is left of its deadline
 * (admission.ts), made as the call comes in: with time still left, "timeout_ms passed" was read
 * seconds before the caller's timeout_ms had.
 */
const WORK_OVER_DEADLINE = /^this call needs about (\d+) ms of work and its deadline leaves (\d+) ms\b/;

export interface WorkOverDeadline {
  workMs: number;
  leftMs: number;
}

/**
 * The work and the time left of such a refusal; null for another description, or where no more was
 * left than an answer needs to be on time (tooLateToAnswer): that deadline has as good as passed.
 */
export function workOverDeadline(description: string): WorkOverDeadline | null {
  const match = WORK_OVER_DEADLINE.exec(description);
  const leftMs = Number(match?.[2]);
  return match && leftMs > ANSWER_MARGIN_MS ? { workMs: Number(match[1]), leftMs } : null;
}

/** The 504 message of such a refusal: `deadline` names the deadline too short, `advice` what the caller changes. */
export const refusedForWork = (deadline: string, { workMs, leftMs }: WorkOverDeadline, advice: string): string =>
  `${deadline} is too short for this request: its work is estimated at about ${workMs} ms, more than the ${leftMs} ms left of it allow with a margin, so it was refused at once rather than when it passed; ${advice}`;

/** The message of a DEADLINE_EXCEEDED described so, in the HTTP API's words (the deadline an HTTP caller sets is timeout_ms). */
function deadlineWords(description: string): string {
  const early = workOverDeadline(description);
  return early ? refusedForWork('timeout_ms', early, 'allow a longer timeout_ms, or send a smaller image') : TIMEOUT_PASSED;
}

/** What an HTTP caller told to retry later acts on: Retry-After, sent with every 429 and 503 that has a hint. */
export const RETRY_AFTER = 'retry when the Retry-After header says';

/**
 * The servers' and the SDK's advice on a refusal to retry later, worded for gRPC callers, in the HTTP
 * API's terms. A gRPC retry keeps the deadline it has left, and a new call has "as long a deadline";
 * an HTTP caller's deadline is timeout_ms, its next request is a new one, due when Retry-After says,
 * and a hint in milliseconds is past when the answer comes, held up to a second (refusal-hold.ts).
 * Rewritten here, the one place every answer goes through, on an instance's port and a gateway's alike;
 * the test of each pattern words its refusal with the code that makes it (test/unit/http-failure.test.ts).
 */
const GRPC_ADVICE: readonly (readonly [RegExp, string])[] = [
  // Admission's (admission.ts): no retry within the deadline, or one sooner for a new call.
  [/no retry within its deadline would: send it again in \d+ ms with as long a deadline/, RETRY_AFTER],
  [/retry in \d+ ms \(a new call with as long a deadline: in \d+ ms\)/, RETRY_AFTER],
  [/\bits deadline's (\d+) ms\b/, 'the $1 ms left of its timeout_ms'],
  // The SDK's own, when every instance has just refused (local-refusal.ts): the gateway sent nothing, which its caller cannot mend.
  [
    /; the first expects room in \d+ ms: retry then, or with a longer deadline \(this call was not sent\)$/,
    `: ${RETRY_AFTER}, or allow a longer timeout_ms`,
  ],
  // Any other hint in milliseconds (admission's, quotas', the upload gate's).
  [/\bretry (?:it )?in \d+ ms\b/, RETRY_AFTER],
];

/**
 * Whole descriptions a gRPC caller reads that name what an HTTP caller has not: grpc health's
 * SERVING, the SDK's maxAttempts (through a gateway, which has made those attempts already).
 */
const GRPC_DESCRIPTIONS = new Map([
  [STARTING_MESSAGE, `${STARTING_REASON}, or wait until /readyz answers 200`],
  [
    CONNECTION_LOST,
    'the connection to the instance that had this request was lost before its answer came (the instance stopped, or stopped answering): try again',
  ],
]);

/**
 * Tiles go over gRPC only (RecognizeTiles): the image-size, pixel and memory refusals tell an HTTP
 * caller to send them without saying where, or by what.
 */
const TILES = /\bsend it as tiles(?: over gRPC| \(RecognizeTiles\))?/;
const TILES_OVER_GRPC = 'send it as tiles over the gRPC API (RecognizeTiles; `ocr recognize --tile-size 1024 FILE` does it)';

/**
 * A line image of /api/ocr/lines is read whole, never as tiles: one too large for the server is told
 * to be cut to its line, and where a page that large goes instead.
 */
const TILES_FOR_A_LINE =
  'crop it to its line (a line image is read whole, never as tiles; a page this large goes as tiles over the gRPC API: RecognizeTiles, or `ocr recognize --tile-size 1024 FILE`)';

/** The refusal of one line image in /api/ocr/lines' answer, in the HTTP API's terms. */
export const lineFailureInHttpTerms = (message: string): string => message.replace(TILES, TILES_FOR_A_LINE);

/** `message` in the HTTP API's terms; `retrying`: whether the answer has Retry-After. */
function inHttpTerms(message: string, retrying: boolean): string {
  const whole = GRPC_DESCRIPTIONS.get(message);
  if (whole !== undefined) return whole;
  const tiles = message.replace(TILES, TILES_OVER_GRPC);
  return retrying ? GRPC_ADVICE.reduce((text, [pattern, advice]) => text.replace(pattern, advice), tiles) : tiles;
}

export function toHttpFailure(err: unknown): HttpFailure {
  if (err instanceof HttpError) {
    return {
      status: err.status,
      code: err.code,
      message: err.message,
      ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
    };
  }
  if (!isStatusError(err)) {
    return { status: 500, code: 'INTERNAL', message: `internal error: ${err instanceof Error ? err.message : String(err)}` };
  }
  const description = err.details ?? err.message;
  const message = err.code === 'DEADLINE_EXCEEDED' ? deadlineWords(description) : description;
  if (err.code === 'RESOURCE_EXHAUSTED') {
    // Too large for any retry (413), or refused for load until there is room (429).
    const wait = pushbackMs(err);
    return wait === undefined
      ? { status: 413, code: err.code, message: inHttpTerms(message, false) }
      : { status: 429, code: err.code, message: inHttpTerms(message, true), retryAfterMs: wait };
  }
  return { status: STATUS[err.code] ?? 500, code: err.code, message: inHttpTerms(message, false) };
}
