/** The error every failed call of the client rejects with: a gRPC status, by name and by number. */

import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { OcrError } from '../shared/errors.js';

/** A gRPC status name: 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', ... */
export type StatusName = keyof typeof Status;

export class OcrCallError extends Error {
  /** The status name, as the proto's ErrorDetail.code spells it. */
  readonly code: StatusName;
  /** The numeric gRPC status. */
  readonly status: number;
  /** The server's (or grpc-js's) description, without the prefix `message` adds. */
  readonly details: string;
  /** Trailers the server sent with the status. */
  readonly metadata: Metadata;

  constructor(status: number, details: string, options: { method?: string; metadata?: Metadata; cause?: unknown } = {}) {
    const code = statusName(status);
    super(`${options.method ? `${options.method}: ` : ''}${code}: ${details}`, { cause: options.cause });
    this.name = 'OcrCallError';
    this.code = code;
    this.status = status;
    this.details = details;
    this.metadata = options.metadata ?? new Metadata();
  }
}

export function statusName(status: number): StatusName {
  // TypeScript enums map numbers back to their names; a number outside gRPC's set is UNKNOWN.
  const name = (Status as unknown as Record<number, string | undefined>)[status];
  return name !== undefined && name in Status ? (name as StatusName) : 'UNKNOWN';
}

/**
 * The description of a call whose deadline passed before its answer came, in place of grpc-js's
 * ("Deadline exceeded after 1.996s,metadata filters: 0.001s,remote_addr=10.0.0.7:50051"): its
 * timings and the server's address tell a caller nothing to do, and a gateway's caller nothing it
 * should see. A server's own DEADLINE_EXCEEDED descriptions are kept.
 */
export const DEADLINE_PASSED = 'the deadline passed before the answer came: allow a longer deadline, or send a smaller image';

/**
 * The description of a call whose deadline passed before any instance could take it: grpc-js never
 * picked a connection for it (its "Waiting for LB pick"), as when no instance is reachable, or the
 * only ones accept TCP and never speak HTTP/2. A longer deadline or a smaller image would not help.
 */
export const DEADLINE_NO_INSTANCE =
  'the deadline passed before any instance was ready to take the call (none reachable, or none answering): check the target and that its servers are up';

/**
 * The description of a call its caller cancelled (CallSettings.signal aborted), before it was sent,
 * while it ran or while it waited to be retried, in place of grpc-js's "Cancelled on client".
 */
export const CALLER_CANCELLED = 'cancelled by the caller (its AbortSignal aborted)';

/** The failure of a call whose caller's signal aborted, with the signal's reason as its cause. */
export function callerCancelled(method: string, signal: AbortSignal, metadata?: Metadata): OcrCallError {
  return new OcrCallError(Status.CANCELLED, CALLER_CANCELLED, { method, metadata, cause: signal.reason });
}

/**
 * The description of a call its client's close() left unsent: made after it, waiting to be retried,
 * or made before it but still waiting for a connection, in place of grpc-js's "Channel closed before
 * call started" (UNAVAILABLE, which callers take for an instance down and retry).
 */
export const CLIENT_CLOSED =
  'this OcrClient is closed (close() was called) before the call was sent: close a client once its calls are answered, or use a new client';

/** The failure of a call its client's close() left unsent. */
export function clientClosed(method?: string, cause?: unknown): OcrCallError {
  return new OcrCallError(Status.CANCELLED, CLIENT_CLOSED, { method, cause });
}

/** grpc-js's wording for a call that its channel, once closed, would not send; the SDK's channel closes only in OcrClient.close(). */
const GRPC_JS_CHANNEL_CLOSED = 'Channel closed before call started';

/**
 * The description of a call whose connection to its instance was lost before the answer came, in
 * place of grpc-js's bare "Connection dropped": the instance closed it (it crashed, was killed) or
 * stopped answering the client's keepalive pings (frozen, partitioned; keepalive.ts). The client
 * has already resent an idempotent call to another instance as often as maxAttempts allows.
 */
export const CONNECTION_LOST =
  "the connection to the instance was lost before the answer came (it stopped, or stopped answering the client's keepalive pings): try again, or allow the client more attempts (maxAttempts)";

/**
 * CONNECTION_LOST for a RecognizeTiles stream, whose advice differs: grpc-js resends no stream, so
 * maxAttempts does not apply; recognizeLargeImageSpread resends the tiles not yet answered.
 */
export const STREAM_CONNECTION_LOST =
  "the connection to the instance was lost before the stream's answers came (it stopped, or stopped answering the client's keepalive pings), and a tile stream is not resent: send the image again, or read it with the SDK's recognizeLargeImageSpread, which resends the tiles not yet answered to another instance, as often as its maxRounds allows";

/** grpc-js's wording for a message over the channel's grpc.max_send_message_length, refused unsent. */
const GRPC_JS_SEND_TOO_LARGE = /^Attempted to send message with a size larger than (\d+)$/;

/** What makes a request of `method` smaller. */
const SMALLER: Record<string, string> = {
  RecognizeLines: 'send fewer or smaller line images a call',
  RecognizeTiles: 'send smaller tiles (a smaller tileSize)',
};

/**
 * The description of a request over the client's own limit on what it sends (MAX_MESSAGE_BYTES,
 * or the channel option grpc.max_send_message_length), in place of grpc-js's "Attempted to send
 * message with a size larger than 67108864", which says neither that nothing was sent nor what to do.
 */
export const sendTooLarge = (limitBytes: number, method: string | undefined): string =>
  `the request is larger than this client sends in one message (${limitBytes} bytes, its channel option ` +
  `grpc.max_send_message_length), and was not sent: ${(method && SMALLER[method]) ?? 'scale the image down, or send it as tiles (recognizeLargeImage)'}`;

/** The one streaming method; its calls are never resent. */
const STREAM_METHOD = 'RecognizeTiles';

/** grpc-js's wording for the calls open on a connection that closed or failed its keepalive ping. */
const GRPC_JS_CONNECTION_DROPPED = 'Connection dropped';

/** grpc-js's wording, from the client's timer or a server's (grpc-js answers a bare "Deadline exceeded"). */
const GRPC_JS_DEADLINE = /^Deadline exceeded\b/;
/** The part of grpc-js's wording for a call still waiting for a connection when its deadline passed. */
const NEVER_PICKED = /\bWaiting for LB pick$/;

/** How every description of a call that could connect to no server of its target begins. */
export const NO_SERVER_REACHED = 'no server of the target could be reached';

/**
 * The description of a call that found no server to connect to, in place of grpc-js's balancers'
 * ("least_request: no connection established; last error: No connection established. Last error:
 * Error: connect ECONNREFUSED 10.0.0.7:50051. Resolution note: "), which buries the one reason that
 * matters under three layers of wording and says nothing of what to do; `reason` is that innermost one.
 */
export const unreachable = (reason: string | null): string =>
  `${NO_SERVER_REACHED}${reason ? ` (${reason})` : ''}: check that the servers run and that the target names them, then try again`;

/**
 * A plaintext client's connection to a TLS server: the server reads the client's HTTP/2 preface as a
 * bad TLS record and closes, which grpc-js words as a bare "Failed to connect (<time>)". A server
 * that accepts TCP and closes at once (no gRPC there) looks the same, hence the "if"; so does, at
 * times, one requiring client certificates that refused this client's after the handshake.
 */
export const PLAINTEXT_TO_TLS = `${NO_SERVER_REACHED} (it closed the connection before speaking HTTP/2, as a TLS server does to a plaintext client): if the servers use TLS, connect with TLS (the client's tls option; the CLI's --tls, or --tls-ca FILE for a private CA); if the client does, the servers may require a client certificate their CA signed (the client's tls.cert and tls.key; the CLI's --tls-cert FILE and --tls-key FILE); else check that the target names a gRPC port`;

/** A TLS client's connection to a plaintext server: OpenSSL's "wrong version number" on the server's first bytes. */
export const TLS_TO_PLAINTEXT = `${NO_SERVER_REACHED} (its answer to the TLS handshake was not TLS, as a plaintext server's is not): if the servers use plaintext, connect without TLS (leave out the client's tls option; the CLI's --tls and --tls-ca), else check that the target names their gRPC port`;

/**
 * A TLS client that does not trust the CA of the server's certificate: OpenSSL's reasons for a
 * chain it cannot build to a root it holds, as Node words them ("self-signed certificate in
 * certificate chain" for a private CA, and the like).
 */
export const untrustedServer = (reason: string): string =>
  `${NO_SERVER_REACHED} (${reason}): the client does not trust the CA that signed the servers' certificate; give it that CA (the client's tls.ca option; the CLI's --tls-ca FILE)`;

/** The server's certificate does not carry the name the client checks (the target's host, or tls.serverName). */
export const misnamedServer = (reason: string): string =>
  `${NO_SERVER_REACHED} (${reason}): the servers' certificate does not carry the name the client checks; give the client a name it carries (its tls.serverName option; the CLI's --tls-server-name NAME), as a target by IP address or consul:// needs`;

/** The server's certificate is outside its validity period, by the client's clock. */
export const expiredServer = (reason: string): string =>
  `${NO_SERVER_REACHED} (${reason}): the servers' certificate is not valid now by this machine's clock; renew it on the servers (ocr serve takes a renewed --tls-cert file without a restart), or set this machine's clock right`;

/**
 * A server requiring client certificates (mutual TLS) that refused the client's, or its lack of one:
 * OpenSSL's alert (`alert`, as "tlsv13 alert certificate required"). Else the advice would be
 * to check that the servers run.
 */
export const refusedClientCertificate = (alert: string): string =>
  `${NO_SERVER_REACHED} (${alert}): the servers require a client certificate signed by a CA they trust (mutual TLS), and refused this client's or its lack of one; give the client a certificate and key from that CA, valid now (the client's tls.cert and tls.key options; the CLI's --tls-cert FILE and --tls-key FILE)`;

/**
 * A plaintext client's connection to an HTTP/1.1 server: Node's HTTP/2 session fails on its answer to
 * the HTTP/2 preface with a bare "Protocol error". The port is most often an instance's HTTP front door.
 */
export const HTTP1_SERVER = `${NO_SERVER_REACHED} (it answered in HTTP/1.1, not gRPC's HTTP/2: a web server, as an instance's HTTP port, 8080 by default, is): connect to the servers' gRPC port (ocr serve --port, 50051 by default)`;

const HTTP1_ANSWER = /^Protocol error\b/;
const PLAINTEXT_CLOSED = /^Failed to connect\b/;
/** OpenSSL's names of the alerts a server sends about the client's certificate. */
const CLIENT_CERTIFICATE_ALERT =
  /\b(?:sslv3|tlsv1|tlsv13) alert (?:certificate required|unknown ca|bad certificate|certificate expired|certificate unknown|certificate revoked|unsupported certificate)\b/i;
const NOT_TLS = /wrong version number/i;
const UNTRUSTED = /self[- ]signed certificate|unable to get (?:local )?issuer certificate|unable to verify the first certificate/i;
const MISNAMED = /does not match certificate's altnames/i;
const EXPIRED = /certificate has expired|certificate is not yet valid/i;

/** The description of a connection that could not be made, by its innermost reason. */
function noConnection(reason: string | null): string {
  if (reason === null) return unreachable(reason);
  if (PLAINTEXT_CLOSED.test(reason)) return PLAINTEXT_TO_TLS;
  if (HTTP1_ANSWER.test(reason)) return HTTP1_SERVER;
  const alert = CLIENT_CERTIFICATE_ALERT.exec(reason);
  if (alert) return refusedClientCertificate(alert[0]);
  if (NOT_TLS.test(reason)) return TLS_TO_PLAINTEXT;
  if (UNTRUSTED.test(reason)) return untrustedServer(reason);
  if (MISNAMED.test(reason)) return misnamedServer(reason);
  if (EXPIRED.test(reason)) return expiredServer(reason);
  return unreachable(reason);
}

/**
 * grpc-js's DNS resolver's wording for a name it could not resolve (a typo, a name this network does
 * not know); the lookup's own error is not passed on. The group is the name, without the scheme.
 */
const NAME_UNRESOLVED = /^Name resolution failed for target (?:dns:(?:\/\/\/)?)?(.+)$/;

/** grpc-js's wording when no connection could be made: pick_first's, round_robin's and least_request's. */
const NO_CONNECTION = /no connection established/i;
/** The innermost "Last error:" of those, without its "Error: " (or "Error [ERR_…]: ") and pick_first's resolution note. */
const LAST_ERROR = /.*last error: (?:Error: )?(?:Error \[\w+\]: )?(.+?)(?:\. Resolution note:.*)?$/is;

function unreachableReason(details: string): string | null {
  const reason = LAST_ERROR.exec(details)?.[1]?.trim();
  return reason && reason !== 'null' ? reason : null;
}

/** A description grpc-js wrote that a caller of `method` can act on, or the server's own. */
function describe(err: ServiceError, method: string | undefined): string {
  if (err.code === Status.DEADLINE_EXCEEDED && GRPC_JS_DEADLINE.test(err.details)) {
    return NEVER_PICKED.test(err.details) ? DEADLINE_NO_INSTANCE : DEADLINE_PASSED;
  }
  const overLimit = err.code === Status.RESOURCE_EXHAUSTED ? GRPC_JS_SEND_TOO_LARGE.exec(err.details) : null;
  if (overLimit) return sendTooLarge(Number(overLimit[1]), method);
  const unresolved = err.code === Status.UNAVAILABLE ? NAME_UNRESOLVED.exec(err.details) : null;
  if (unresolved) return unreachable(`${unresolved[1]} did not resolve to an address`);
  if (err.code === Status.UNAVAILABLE && NO_CONNECTION.test(err.details)) return noConnection(unreachableReason(err.details));
  if (err.code === Status.UNAVAILABLE && err.details === GRPC_JS_CONNECTION_DROPPED) {
    return method === STREAM_METHOD ? STREAM_CONNECTION_LOST : CONNECTION_LOST;
  }
  return err.details;
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'details' in err;
}

/**
 * Wraps whatever a grpc-js call failed with. Anything that is not a gRPC status (a serialization
 * bug, a throw in a callback) becomes INTERNAL so callers handle a single error type. An OcrError
 * (what the SDK refuses itself as a server would, such as an unreadable image cut into tiles)
 * keeps its code and words: a catch written for a server's refusal of the same input takes it.
 */
export function toOcrCallError(err: unknown, method?: string): OcrCallError {
  if (err instanceof OcrCallError) return err;
  if (err instanceof OcrError) return new OcrCallError(Status[err.code], err.message, { method, cause: err });
  if (isServiceError(err)) {
    if (err.code === Status.UNAVAILABLE && err.details === GRPC_JS_CHANNEL_CLOSED) return clientClosed(method, err);
    return new OcrCallError(err.code, describe(err, method), { method, metadata: err.metadata, cause: err });
  }
  const details = err instanceof Error ? err.message : String(err);
  return new OcrCallError(Status.INTERNAL, details, { method, cause: err });
}

/** The one RPC the tiling helpers' refusals stand for. */
const TILES_METHOD = 'RecognizeTiles';

/**
 * What the tiling helpers refuse before any call (an unreadable image, a bad tile plan), as the
 * RecognizeTiles call's failure it stands for; anything else (a missing sharp, a TypeError) as it is.
 */
export function tilesRefusal(err: unknown): unknown {
  return err instanceof OcrError ? toOcrCallError(err, TILES_METHOD) : err;
}
