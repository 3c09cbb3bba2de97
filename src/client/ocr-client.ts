/** A typed, promise-based client of ocr.v1.OcrService. */

import {
  credentials as grpcCredentials,
  status as Status,
  type Metadata,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientUnaryCall,
  type Interceptor,
  type ServiceError,
} from '@grpc/grpc-js';

import {
  type OcrServiceClient,
  type RecognizeLinesResponse,
  type RecognizeOptions,
  type RecognizeResponse,
  type ServerInfo,
} from '../gen/ocr/v1/ocr.js';
import { abortableDelay, onAbort } from './abort-listeners.js';
import { asBuffer, kindOf } from './image-bytes.js';
import { LeanOcrServiceClient } from './request-encoding.js';
import { checkRecognizeOptions } from './recognize-options.js';
import { metadataLimitInterceptor } from './metadata-limit-interceptor.js';
import { callMetadata, callOptions, checkDeadlineMs, DEFAULT_DEADLINE_MS, type CallSettings, type Priority } from './call-settings.js';
import { callerCancelled, clientClosed, OcrCallError, toOcrCallError } from './errors.js';
import { isLocalRefusal, localRefusal, LOCAL_REFUSAL_HOLD_MS } from './local-refusal.js';
import { overloadPushbackMs } from './retry-pushback.js';
import { TileCall } from './tile-call.js';
import { tlsChannel, type ClientTls } from './tls.js';
import { tokenInterceptor, type TokenSource } from './token.js';

import { registerLeastRequest } from './least-request-balancer.js';
import { registerConsulResolver } from './resolver-consul.js';
import { LOAD_BALANCING, RETRY_BUFFER_OPTIONS, serviceConfig, type LoadBalancing } from './service-config.js';
import { channelTarget } from './resolver-hosts.js';
import { checkTarget } from './target.js';
import { DEFAULT_KEEPALIVE_TIME_MS, DEFAULT_KEEPALIVE_TIMEOUT_MS, keepaliveChannelOptions } from './keepalive.js';

/** How long a client trusts the balancer's verdict that every instance refuses a priority without asking it again. */
const RECHECK_REFUSALS_MS = 1000;

/** Room for whole scanned pages in one message; the server enforces its own, usually lower, limit. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface OcrClientOptions {
  /** Deadline of every call unless the call overrides it; Infinity for none. Default 30000. */
  deadlineMs?: number;
  /**
   * grpc-js channel options; they override the client's own (message size limits, keepalive), but
   * for `interceptors`, which run before the client's own (its token, its check of metadata size).
   */
  channelOptions?: ChannelOptions;
  /** grpc-js channel credentials, in place of `tls`'s. Default: plaintext. */
  credentials?: ChannelCredentials;
  /**
   * TLS: `true` trusts Node's built-in roots; an object sets the CA to trust, a client certificate
   * and key (mutual TLS) and the name the server's certificate must carry (`serverName`, for IP and
   * consul:// targets). Default: plaintext.
   */
  tls?: ClientTls | boolean;
  /**
   * Balancing over the target's instances: least_request (default: the instance with the fewest of
   * this client's calls open, and calls refused here while every instance refuses their priority for
   * load), or grpc-js's round_robin or pick_first.
   */
  loadBalancing?: LoadBalancing;
  /**
   * Attempts per idempotent call, the first included (1..5; 1: no retries), on UNAVAILABLE and on
   * RESOURCE_EXHAUSTED unless the server's retry pushback says retrying cannot help. Default 3.
   */
  maxAttempts?: number;
  /**
   * Bearer token sent with every call (`authorization: Bearer <token>`), for a server with tokens
   * on: an API key or a JWT, or a function that returns one, sync or async (run once per call, so
   * it may refresh a token before it expires). A call whose function has not given its token yet is
   * not sent, and still ends when its signal aborts (CANCELLED), its deadline passes (DEADLINE_EXCEEDED,
   * TOKEN_LATE) or the client closes. Over plaintext too: use TLS where the network is not trusted.
   */
  token?: TokenSource;
  /**
   * Milliseconds between HTTP/2 pings on a connection while calls are open on it; Infinity: none.
   * An instance that stops answering without closing its connections (a frozen process, a paused
   * VM, a partition) is found dead when a ping's ACK does not come within keepaliveTimeoutMs: the
   * calls open on it end UNAVAILABLE and are retried on another instance (keepalive.ts). Default 5000.
   */
  keepaliveTimeMs?: number;
  /** Milliseconds a ping's ACK may take before its connection counts as dead. Default 5000. */
  keepaliveTimeoutMs?: number;
}

type Callback<T> = (error: ServiceError | null, response: T) => void;

export class OcrClient {
  readonly target: string;
  readonly deadlineMs: number;
  /** Attempts of a call refused for overload, the first included. */
  private readonly maxAttempts: number;
  private readonly stub: OcrServiceClient;
  /**
   * Per priority, until when (Date.now()) the balancer refuses such calls on every instance, as far
   * as this client knows, and when to ask it again.
   */
  private readonly refusedEverywhere = new Map<Priority, { until: number; recheckAt: number }>();
  /** Aborted by close(): later calls fail at once, and calls waiting to be retried stop waiting. */
  private readonly closing = new AbortController();

  /**
   * `target` is a gRPC target: "host:port", "dns:///host:port", "ipv4:10.0.0.1:50051,10.0.0.2:50051",
   * a list of servers by name or address, "ocr-1:50051,ocr-2:50051" (every address of every name,
   * looked up again as they change), or "consul://AGENT_HOST:PORT/SERVICE[?tag=T&dc=D]" (the passing
   * instances of a Consul service).
   */
  constructor(target: string, options: OcrClientOptions = {}) {
    this.target = checkTarget(target, Boolean(options.tls));
    this.deadlineMs = checkDeadlineMs(options.deadlineMs ?? DEFAULT_DEADLINE_MS);
    if (target.startsWith('consul:')) registerConsulResolver();
    const loadBalancing = options.loadBalancing ?? 'least_request';
    // grpc-js would skip an unknown policy's config without a word and balance as pick_first.
    if (!LOAD_BALANCING.includes(loadBalancing)) {
      throw new RangeError(`loadBalancing must be one of ${LOAD_BALANCING.join(', ')}, got ${String(loadBalancing)}`);
    }
    if (loadBalancing === 'least_request') registerLeastRequest();
    const maxAttempts = options.maxAttempts ?? 3;
    this.maxAttempts = maxAttempts;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 5) {
      throw new RangeError(`maxAttempts must be a whole number from 1 to 5 (grpc-js's limit), got ${maxAttempts}`);
    }
    const keepalive = keepaliveChannelOptions({
      timeMs: options.keepaliveTimeMs ?? DEFAULT_KEEPALIVE_TIME_MS,
      timeoutMs: options.keepaliveTimeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT_MS,
    });
    const secure = tlsChannel(options.tls);
    this.stub = new LeanOcrServiceClient(
      channelTarget(target),
      options.credentials ?? secure?.credentials ?? grpcCredentials.createInsecure(),
      {
        'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
        'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
        'grpc.service_config': serviceConfig(loadBalancing, maxAttempts),
        ...RETRY_BUFFER_OPTIONS,
        ...keepalive,
        ...secure?.options,
        ...options.channelOptions,
        // The caller's own (tracing, logging) first, kept; the limit's last: it sees the metadata they and the token add.
        interceptors: [
          ...((options.channelOptions?.interceptors as Interceptor[] | undefined) ?? []),
          ...(options.token !== undefined ? [tokenInterceptor(options.token, this.closing.signal)] : []),
          metadataLimitInterceptor(),
        ],
      },
    );
  }

  /** Detects and reads the text of one encoded image (JPEG, PNG, WebP, TIFF, GIF, BMP). */
  async recognize(image: Uint8Array, options?: RecognizeOptions, settings?: CallSettings): Promise<RecognizeResponse> {
    const request = { image: asBuffer(image, 'image'), options: checkRecognizeOptions(options) };
    return this.unary<RecognizeResponse>('Recognize', refusable(settings), (metadata, callOpts, callback) =>
      this.stub.recognize(request, metadata, callOpts, callback),
    );
  }

  /** Reads images that each hold one already-cropped line; results come back in the same order. */
  async recognizeLines(images: Uint8Array[], options?: RecognizeOptions, settings?: CallSettings): Promise<RecognizeLinesResponse> {
    // Untyped callers pass a path or a single image; Node's own errors for those name nothing of theirs.
    if (!Array.isArray(images)) throw new TypeError(`images must be an array of encoded line images, got ${kindOf(images)}`);
    const request = { images: images.map((image, i) => asBuffer(image, `images[${i}]`)), options: checkRecognizeOptions(options) };
    return this.unary<RecognizeLinesResponse>('RecognizeLines', refusable(settings), (metadata, callOpts, callback) =>
      this.stub.recognizeLines(request, metadata, callOpts, callback),
    );
  }

  /** Models, limits, defaults and identity of the instance that answers. */
  getServerInfo(settings?: CallSettings): Promise<ServerInfo> {
    return this.unary<ServerInfo>('GetServerInfo', settings, (metadata, callOpts, callback) =>
      this.stub.getServerInfo({}, metadata, callOpts, callback),
    );
  }

  /**
   * Opens a RecognizeTiles stream. The deadline covers the whole stream, every image on it. Most
   * callers want recognizeLargeImage (tile-stream.ts), which cuts the image and collects the answers.
   */
  recognizeTiles(settings: CallSettings = {}): TileCall {
    if (this.closing.signal.aborted) throw clientClosed('RecognizeTiles');
    const stream = this.stub.recognizeTiles(callMetadata(settings), callOptions(this.deadlineMs, settings));
    const { signal } = settings;
    if (signal?.aborted) {
      stream.cancel();
    } else if (signal) {
      // A signal shared by many calls must not keep every finished one alive.
      stream.once(
        'status',
        onAbort(signal, () => stream.cancel()),
      );
    }
    return new TileCall(stream, signal);
  }

  /** Aborted by close(): for helpers that wait between calls (recognizeLargeImageSpread), to stop waiting then. */
  get closeSignal(): AbortSignal {
    return this.closing.signal;
  }

  /**
   * Closes the channel. Calls already sent run to their end; calls still waiting for a connection
   * or to be retried, and calls made from now on, fail with CANCELLED (CLIENT_CLOSED), and no timer
   * of the client keeps the process alive.
   */
  close(): void {
    this.closing.abort();
    this.stub.close();
  }

  /**
   * One unary call. grpc-js retries what never ran (UNAVAILABLE) itself; a refusal for overload
   * (RESOURCE_EXHAUSTED with a pushback ≥ 0) is retried here, within the call's one deadline: first
   * at once, which the balancer sends to another instance, then after the server's hint, and not at
   * all when the hint would outlast the deadline, so a caller learns at once that no room is left
   * in time (grpc-js would wait out the hint and answer DEADLINE_EXCEEDED). A refusal the balancer
   * made without sending the call (local-refusal.ts) does not count as an attempt: a call that an
   * instance has refused waits out that instance's hint for it; one that none has refused yet has
   * no hint of its own and ends as a server would end it, after LOCAL_REFUSAL_HOLD_MS.
   */
  private async unary<T>(
    method: string,
    settings: CallSettings = {},
    start: (metadata: Metadata, options: ReturnType<typeof callOptions>, callback: Callback<T>) => ClientUnaryCall,
  ): Promise<T> {
    const options = callOptions(this.deadlineMs, settings);
    const deadline = options.deadline instanceof Date ? options.deadline.getTime() : Infinity;
    const { priority } = settings;
    const known = priority ? this.knownRefusal(priority, method) : null;
    if (known) return this.heldRefusal(known, deadline, method, settings.signal);
    let sent = 0;
    let held = 0;
    /** When the last instance that refused this call said it may be retried. */
    let retryAt: number | undefined;
    for (;;) {
      try {
        return await this.attempt(method, settings, options, start);
      } catch (err) {
        const pushbackMs = err instanceof OcrCallError ? overloadPushbackMs(err.status, err.metadata) : null;
        if (pushbackMs === null) throw err;
        const refusal = err as OcrCallError;
        const now = Date.now();
        const local = isLocalRefusal(refusal.metadata);
        let resendAt: number | null;
        if (local) {
          held++;
          if (priority) this.noteRefusedEverywhere(priority, now + pushbackMs);
          resendAt = retryAt === undefined || held > this.maxAttempts ? null : Math.max(retryAt, now + pushbackMs);
        } else {
          sent++;
          retryAt = now + pushbackMs;
          resendAt = sent >= this.maxAttempts ? null : sent === 1 ? now : retryAt;
        }
        if (resendAt === null || resendAt >= deadline) {
          if (!local) throw refusal;
          return this.heldRefusal(refusal, deadline, method, settings.signal);
        }
        if (resendAt > now) await abortableDelay(resendAt - now, [settings.signal, this.closing.signal]);
      }
    }
  }

  /**
   * A new call of a priority that the balancer has just refused on every instance is refused here,
   * before its request is encoded: refused by the balancer, each still cost the caller's host the
   * copies of its image and grpc-js's call, a core for a few dozen looping callers
   * (docs/BENCHMARKS.md, "Refused before sending"). Known for at most RECHECK_REFUSALS_MS from the
   * balancer's refusal, so that an instance that joins meanwhile is soon tried.
   */
  private knownRefusal(priority: Priority, method: string): OcrCallError | null {
    const known = this.refusedEverywhere.get(priority);
    const now = Date.now();
    if (!known || now >= known.recheckAt) return null;
    const { code, details, metadata } = localRefusal(priority, Math.max(1, known.until - now));
    return new OcrCallError(code, details, { method, metadata });
  }

  /** The balancer refused `priority` on every instance until `until`. */
  private noteRefusedEverywhere(priority: Priority, until: number): void {
    this.refusedEverywhere.set(priority, { until, recheckAt: Math.min(until, Date.now() + RECHECK_REFUSALS_MS) });
  }

  /**
   * A refusal made without sending the call, answered after the server's own pace (local-refusal.ts)
   * or at the deadline; CANCELLED, as a sent call would end, when its caller aborted or the client
   * closed: a caller that gave up must not read a refusal it would retry.
   */
  private async heldRefusal(err: OcrCallError, deadline: number, method: string, signal: AbortSignal | undefined): Promise<never> {
    await abortableDelay(Math.min(LOCAL_REFUSAL_HOLD_MS, deadline - Date.now()), [signal, this.closing.signal]);
    if (signal?.aborted) throw callerCancelled(method, signal);
    if (this.closing.signal.aborted) throw clientClosed(method);
    throw err;
  }

  private attempt<T>(
    method: string,
    settings: CallSettings,
    options: ReturnType<typeof callOptions>,
    start: (metadata: Metadata, options: ReturnType<typeof callOptions>, callback: Callback<T>) => ClientUnaryCall,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const { signal } = settings;
      if (signal?.aborted) {
        reject(callerCancelled(method, signal));
        return;
      }
      // grpc-js throws a bare Error ("Channel has been shut down") for a call on a closed channel.
      if (this.closing.signal.aborted) {
        reject(clientClosed(method));
        return;
      }
      let ended = false;
      let stopListening: (() => void) | undefined;
      const call = start(callMetadata(settings), options, (error, response) => {
        ended = true;
        stopListening?.();
        if (error && signal?.aborted && error.code === Status.CANCELLED) reject(callerCancelled(method, signal, error.metadata));
        else if (error) reject(toOcrCallError(error, method));
        else resolve(response);
      });
      if (signal && !ended) stopListening = onAbort(signal, () => call.cancel());
    });
  }
}

/**
 * A call that servers refuse for load names its priority, interactive unless the caller says batch:
 * the balancer refuses only such calls itself when every instance does (least-request-balancer.ts).
 */
function refusable(settings: CallSettings = {}): CallSettings {
  return { ...settings, priority: settings.priority ?? 'interactive' };
}
