/**
 * The HTTP front door: the REST API (`POST /api/ocr` as the replaced service took it), health,
 * metrics, the API's documentation and the Web UI, over any OcrBackend. Every limit, budget and
 * overload rule is the backend's, so HTTP callers meet the same ones as gRPC callers: a request is
 * weighed for load from its headers as a gRPC call is (`weigh`), and only a 429's hold is HTTP's
 * own (refusal-hold.ts).
 */
import { fileURLToPath } from 'node:url';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer, ServerOptions as HttpsServerOptions } from 'node:https';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { OcrError } from '../shared/errors.js';
import { DEFAULT_CLIENT_IPV6_PREFIX } from '../shared/client-address.js';
import { requestIdOf } from '../shared/request-id.js';
import type { HttpCall, OcrBackend } from './backend.js';
import type { AccessControl } from '../auth/access-control.js';
import { httpCallName } from '../auth/access.js';
import { AuthFailure, bearerChallenge } from '../auth/bearer.js';
import { isOverQuota, overQuotaKind } from '../auth/quota.js';
import { RefusalLog, refusalKind } from '../auth/refusal-log.js';
import { authRefusalHoldMs, DEFAULT_REFUSAL_PACE_MS } from '../server/refusal-pace.js';
import type { Refused, WeighedRequest, Weighing } from '../server/request-weighing.js';
import type { UploadGate } from '../server/upload-gate.js';
import { addAccessControl, httpFallbackIdentity, requestAuthorization } from './access-hook.js';
import { CALL_PARAMETERS, callTerms } from './call-terms.js';
import { abortAtDeadline, answerInTime } from './answer-in-time.js';
import { bodyTurn, type BodyTurn } from './body-turn.js';
import { collectBody } from './body-collector.js';
import { checkJsonBody, JsonBody } from './json-body.js';
import type { HeldBodies } from './held-bodies.js';
import { corsOptions } from './cross-origin.js';
import { CLIENT_CLOSED, CLIENT_LEFT_MID_BODY, HttpError, toHttpFailure, type HttpFailure } from './failure.js';
import { frameworkErrorAnswer } from './framework-errors.js';
import type { HttpMetrics } from './http-metrics.js';
import { lingerAfterAnswer } from './lingering-close.js';
import { openApiDocument } from './openapi.js';
import { RequestArrivals } from './request-arrivals.js';
import {
  bodyLimit,
  checkImage,
  frameworkFailure,
  type Images,
  isFilePart,
  jsonBodyLimit,
  MAX_FIELD_BYTES,
  MAX_FORM_FIELDS,
  maxFormParts,
  readImages,
  readsBodyType,
  unsupportedBody,
  unsupportedCoding,
  untypedBody,
  declaredBodyBytes,
} from './request-images.js';
import { HOST_LEFT_TO_APP, protocolRefusals } from './protocol-refusals.js';
import { answerPlainHttp } from './plain-http-on-tls.js';
import { boundPipelining } from './pipelined-requests.js';
import { securityHeaders } from './security-headers.js';
import { parseOptions, type OptionSource } from './request-options.js';
import { httpRefusalHold } from './refusal-hold.js';
import { clientErrorAnswer, REQUEST_TIMEOUT_MS, serverTimeouts } from './request-timeout.js';
import { failureJson, infoJson, linesJson, pageJson } from './response-json.js';

/** The Web UI: static files, no build step (web/ at the repository root). */
export const WEB_ROOT = fileURLToPath(new URL('../../../web/', import.meta.url));

export interface HttpAppOptions {
  backend: OcrBackend;
  /** Largest image (and largest request) accepted, in bytes: the gRPC message limit. */
  maxImageBytes: number;
  /** Images one /api/ocr/lines request may carry. */
  maxLinesPerRequest: number;
  logger: Logger;
  metrics: HttpMetrics;
  version: string;
  /** Serve HTTPS with these (server-tls.ts: the server's certificate files); the server swaps later pairs in with setSecureContext. */
  https?: HttpsServerOptions;
  /** Bearer tokens, scopes and quotas (src/auth, access-hook.ts); unset: every request is let in. */
  access?: AccessControl;
  /** How long a request may take to arrive whole (request-timeout.ts); REQUEST_TIMEOUT_MS unless set. */
  requestTimeoutMs?: number;
  /** The gate request bodies are read through, bounding what they hold together (body-turn.ts); unset: none. */
  uploads?: UploadGate;
  /** Origins whose pages may call the API from a browser, or `*` (cross-origin.ts); unset or empty: its own only. */
  corsOrigins?: readonly string[];
  /**
   * Weighs an OCR request for load from its headers, before its body is read, as gRPC calls are
   * (src/server/request-weighing.ts); unset, or undefined while the engine starts: every body is read.
   */
  weigh?: (request: WeighedRequest) => Weighing | undefined;
  /**
   * Hold each 429 a second from the request's arrival, Retry-After counting the rest (refusal-hold.ts),
   * and each 401 and 403 for `refusalPaceMs` (src/server/refusal-pace.ts); default true.
   */
  holdRefusals?: boolean;
  /** The refusal pace (--refusal-pace-ms) a 401 or 403 is held for; DEFAULT_REFUSAL_PACE_MS unless set. */
  refusalPaceMs?: number;
  /** Bounds the bodies read and not yet answered (held-bodies.ts: `ocr gateway`'s, on their way to its cluster); unset: none. */
  heldBodies?: HeldBodies;
  /** A caller known by its address alone, over IPv6, by this many first bits of it (--client-ipv6-prefix); unset: 128, all. */
  clientIpv6Prefix?: number;
}

const LINES_ROUTE = '/api/ocr/lines';
/** The route of the Web UI's files (@fastify/static). */
const STATIC_ROUTE = '/*';
type WorkKind = WeighedRequest['kind'];
/** The methods the API's routes are served on, for the Allow header of a 405. */
const ROUTE_METHODS = ['GET', 'POST'] as const;

/** A route's Allow: the methods it is served on, HEAD with GET (Fastify answers it), and OPTIONS (answered above the routes). */
const allowHeader = (methods: readonly string[]): string =>
  [...methods, ...(methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');

/** A browser's CORS preflight, as @fastify/cors tells one: an OPTIONS with an Origin and the method it asks for. */
const isPreflight = (request: FastifyRequest): boolean =>
  request.headers.origin !== undefined && request.headers['access-control-request-method'] !== undefined;

/** What the request's timeout leaves, from its headers or query; undefined for none or a malformed one. */
function timeLeftMs(request: FastifyRequest, reply: FastifyReply): number | undefined {
  try {
    const { deadline } = callTerms(request, reply);
    return deadline === undefined ? undefined : deadline - Date.now();
  } catch {
    return undefined;
  }
}

/** The request's timeout, priority and cancellation, from headers, query parameters or body fields. */
function httpCall(request: FastifyRequest, reply: FastifyReply, body?: OptionSource): HttpCall {
  const { priority, deadline } = callTerms(request, reply, body);
  // Every value: Node keeps only the first of repeated authorization headers in request.headers.
  const authorization = requestAuthorization(request);
  const controller = new AbortController();
  // The client went away before its answer: the work it asked for stops.
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  if (deadline !== undefined) reply.raw.once('close', abortAtDeadline(controller, deadline));
  return {
    signal: controller.signal,
    priority,
    requestId: request.id,
    what: httpCallName(request.routeOptions.url ?? request.url),
    ...(authorization.length > 0 ? { authorization: authorization.join(', ') } : {}),
    ...(deadline !== undefined ? { deadline } : {}),
  };
}

/**
 * Whether `request`'s body was cut by its connection closing: Node ends such a request with its
 * own reset error ("aborted"). One the server failed itself (a stalled upload, body-turn.ts) has ours.
 */
const leftMidBody = (request: IncomingMessage): boolean =>
  !request.complete && (request.errored as NodeJS.ErrnoException | null)?.code === 'ECONNRESET';

/**
 * The routes declare no schemas to validate or serialize with: readImages and request-options.ts
 * check each request and say what is wrong in the API's own words. Fastify's default compilers
 * (ajv, fast-json-stringify) would load for nothing, about 0.1 s of every start; a schema added
 * later fails at registration, saying so, instead of going unchecked.
 */
function noSchemaCompiler(): () => never {
  return () => {
    throw new Error(
      'this app compiles no route schemas: check the request in its handler (app.ts), or give Fastify its default compilers back',
    );
  };
}

export async function buildHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  const { backend, maxImageBytes, maxLinesPerRequest, logger, metrics } = options;
  const holdRefusals = options.holdRefusals ?? true;
  const authPaceMs = holdRefusals ? (options.refusalPaceMs ?? DEFAULT_REFUSAL_PACE_MS) : 0;
  /** The refusals of who calls: the access control's, shared with gRPC on an instance; a gateway without tokens of its own relays its instances'. */
  const refusals = options.access?.refusals ?? new RefusalLog();
  const clientIpv6Prefix = options.clientIpv6Prefix ?? DEFAULT_CLIENT_IPV6_PREFIX;
  const jsonLimit = jsonBodyLimit(maxImageBytes);
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  // Node tracks a request's time only when its server is made with a requestTimeout; Fastify then sets the same.
  const serverOptions = serverTimeouts(requestTimeout);
  /**
   * Aborted once close() has begun (Fastify's preClose): the drain, on an instance and on a gateway.
   * A lingering close (lingering-close.ts) then ends at once.
   */
  const closing = new AbortController();
  /**
   * Requests of a route's path with a method it does not take (405), which reach no route: the path,
   * one of the routes', is the label they are counted under, not `unknown`.
   */
  const wrongMethodRoute = new WeakMap<FastifyRequest, string>();
  /** Responses of requests answered from their socket (request-timeout.ts), by the status they were sent. */
  const answeredFromSocket = new WeakMap<object, number>();
  /** What each request's lines name it by, whichever writes them. */
  const arrivals = new RequestArrivals((request) => request.routeOptions.url ?? wrongMethodRoute.get(request));
  /**
   * Counts a request once its answer is done with: its status, or 499 when its client left before
   * the answer was written (as its log line says, and as gRPC counts CANCELLED). Fastify's
   * onResponse runs only for an answer written whole, so such requests went uncounted. A request
   * answered before it reached a route (a malformed URL) is counted as route `unknown`.
   */
  const countWhenDone = (request: FastifyRequest, reply: FastifyReply): void => {
    const { started, peer } = arrivals.arrived(request, reply.raw);
    reply.raw.once('close', () => {
      const route = request.routeOptions.url ?? wrongMethodRoute.get(request) ?? 'unknown';
      const status = answeredFromSocket.get(reply.raw) ?? (reply.raw.writableFinished ? reply.statusCode : CLIENT_CLOSED);
      const seconds = (performance.now() - started) / 1000;
      metrics.ended(route, status, seconds);
      // A refusal or failure has its line already (the error handler's); an answer had none at any
      // level, where gRPC's has one at debug (call-handler.ts): a request id could not be followed
      // through a gateway that answered it.
      if (status < 400) logger.debug({ requestId: request.id, route, status, ms: Math.round(seconds * 1000), peer }, 'answered');
    });
  };
  const settings = {
    logger: false,
    bodyLimit: maxImageBytes,
    // close() leaves the requests in flight to finish, as gRPC's tryShutdown leaves its calls: it
    // closes the idle connections only, and whoever closes the app closes the rest when its grace
    // period is over (server.ts, gateway-command.ts).
    forceCloseConnections: 'idle',
    // A request that arrives while the app closes is answered by its route: /readyz says draining,
    // an OCR request is refused with what to do (below), instead of Fastify's bare 503.
    return503OnClosing: false,
    requestTimeout,
    // A request answered from its socket (too slow, malformed): one parsed is counted with its route and
    // that status when its response closes; one that never was, as route `unknown`.
    clientErrorHandler: clientErrorAnswer(
      serverOptions,
      logger,
      closing.signal,
      (status, response) => {
        if (response) answeredFromSocket.set(response, status);
        else metrics.requests.inc({ route: 'unknown', status: String(status) });
      },
      (response) => arrivals.fieldsOf(response),
    ),
    frameworkErrors: frameworkErrorAnswer(logger, countWhenDone),
    // The caller's x-request-id, or a new one: the id of the logs' lines, and of the answer (below).
    genReqId: (request: { headers: Record<string, unknown> }) => requestIdOf(request.headers['x-request-id']),
    schemaController: { compilersFactory: { buildValidator: noSchemaCompiler, buildSerializer: noSchemaCompiler } },
  } as const;
  // Over HTTPS the instance's raw server is an https.Server; routes and hooks see the same requests.
  const app = options.https
    ? (Fastify({ ...settings, https: { ...options.https, ...serverOptions, ...HOST_LEFT_TO_APP } }) as unknown as FastifyInstance)
    : Fastify({ ...settings, http: { ...serverOptions, ...HOST_LEFT_TO_APP } });
  if (options.https) answerPlainHttp(app.server as unknown as HttpsServer);
  // A connection's pipelined requests reach the app a few at a time, as its client reads their answers.
  boundPipelining(app.server);
  // A client that asks before it sends its body (Expect: 100-continue, as curl does past 1 MB) is told
  // to go on only when the body is about to be read (imageBody's preParsing): a refusal from the
  // headers (401, 413, 429, 503) then costs it no upload, and it reads the answer instead of meeting
  // the reset of a connection closed while it sent. Node would say "go on" at once.
  app.server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => app.server.emit('request', request, response));
  const protocolRefusal = protocolRefusals(app.server);
  // First of all hooks: every request is counted, and every answer names its request as the logs do.
  app.addHook('onRequest', async (request, reply) => {
    countWhenDone(request, reply);
    void reply.header('x-request-id', request.id).headers(securityHeaders(request.url));
    const refusal = protocolRefusal(request.raw);
    if (refusal) throw refusal;
  });
  // A plain OPTIONS (no CORS preflight) asks which methods a route takes: 204 with Allow, rather than
  // the 405 of a method the route does not take, or @fastify/cors's text "Invalid Preflight Request".
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'OPTIONS' || (options.corsOrigins?.length && isPreflight(request))) return;
    const allowed = routeMethods(request);
    if (allowed.length === 0) return notFound(request, reply);
    return reply.header('allow', allowHeader(allowed)).status(204).send();
  });
  // Before the tokens are checked: a browser's preflight carries none, and a refusal needs the
  // CORS headers too, or the page cannot read why it was refused.
  if (options.corsOrigins?.length) await app.register(cors, corsOptions(options.corsOrigins));
  // First of all hooks but CORS, before any body is read: a refused upload costs its headers alone.
  if (options.access) addAccessControl(app, options.access, clientIpv6Prefix);
  // A request no route takes is answered from its headers (404, 405), as the hooks above let it be:
  // left to the handler, its body would be read whole first, outside the upload gate (body-turn.ts),
  // and one over the limit answered 413 where the path was the mistake.
  app.addHook('onRequest', async (request, reply) => {
    if (!request.is404) return;
    notFound(request, reply);
    return reply;
  });
  await app.register(multipart, {
    limits: {
      fileSize: maxImageBytes,
      files: maxLinesPerRequest,
      fields: MAX_FORM_FIELDS,
      fieldSize: MAX_FIELD_BYTES,
      parts: maxFormParts(maxLinesPerRequest),
    },
    isPartAFile: isFilePart,
  });
  const rawImage = (request: FastifyRequest, payload: NodeJS.ReadableStream): Promise<Buffer> =>
    collectBody(payload, request.headers['content-length'], maxImageBytes);
  app.addContentTypeParser(/^image\/.*/, rawImage);
  app.addContentTypeParser('application/octet-stream', rawImage);
  // A text/plain body is no form the API takes: 415, as for any other type, and every string body is JSON's.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', async (request: FastifyRequest, payload: NodeJS.ReadableStream) =>
    checkJsonBody(await collectBody(payload, request.headers['content-length'], jsonLimit), maxLinesPerRequest),
  );

  const draining = (): boolean => closing.signal.aborted;
  /**
   * Whether the unread rest of a refused request's body is read and dropped to keep the connection
   * (Node does that) rather than the connection closed once the client has sent it (lingering-close.ts):
   * when it is at most twice an image, as declared; not for a refusal for load, whose connection
   * the client is better off without, nor for one without a length, which could be endless.
   */
  const drainable = (request: FastifyRequest, failure: HttpFailure): boolean => {
    const length = Number(request.headers['content-length']);
    return failure.retryAfterMs === undefined && Number.isFinite(length) && length <= 2 * maxImageBytes;
  };

  /**
   * Sends `failure`; a refusal to retry later is held first, and its Retry-After counts from the
   * answer (refusal-hold.ts), as is a refusal of who calls (`whoCalls`), for the refusal pace: a client
   * looping on a bad token cannot spin. The rest of a body not read whole is drained or its connection closed (drainable).
   */
  const sendFailure = async (
    request: FastifyRequest,
    reply: FastifyReply,
    failure: HttpFailure,
    whoCalls = false,
  ): Promise<FastifyReply> => {
    const leftMs = timeLeftMs(request, reply);
    let holdMs = 0;
    if (failure.retryAfterMs !== undefined) {
      const hold = httpRefusalHold(failure.retryAfterMs, reply.elapsedTime, leftMs, holdRefusals);
      holdMs = hold.holdMs;
      void reply.header('retry-after', String(hold.retryAfterS));
    } else if (whoCalls) holdMs = authRefusalHoldMs(authPaceMs, leftMs, reply.elapsedTime);
    if (holdMs > 0) await new Promise((resolve) => setTimeout(resolve, holdMs));
    if (!request.raw.complete) {
      // Fastify closes a body over its limit from its length alone: a drainable one is read instead.
      if (drainable(request, failure)) reply.removeHeader('connection');
      else {
        void reply.header('connection', 'close');
        lingerAfterAnswer(request.raw, closing.signal);
      }
    }
    return reply.status(failure.status).send(failureJson(failure));
  };

  app.setErrorHandler(async (err, request, reply) => {
    // Answered from its socket (408, request-timeout.ts), with its line: its body's reader failed as that connection closed.
    if (answeredFromSocket.has(reply.raw)) return;
    const fields = arrivals.fieldsOf(reply.raw) ?? { requestId: request.id };
    // Its client closed the connection before its body had all come: nothing was refused, it left,
    // and is counted so (499, countWhenDone). Its reader's error ("aborted") was a 400 in the log.
    if (leftMidBody(request.raw)) {
      logger.info({ ...fields, status: CLIENT_CLOSED, code: 'CANCELLED', message: CLIENT_LEFT_MID_BODY }, 'ended after the caller left');
      return;
    }
    // The Web UI's files refuse a path out of web/ (`/../x`) as forbidden: it names no file served, as a 404 says.
    if (request.routeOptions.url === STATIC_ROUTE && (err as { statusCode?: number }).statusCode === 403) return reply.callNotFound();
    // An OcrError may come through a body's reader (body-turn.ts), which gives it a statusCode of 400.
    const failure =
      err instanceof HttpError || err instanceof OcrError
        ? toHttpFailure(err)
        : (frameworkFailure(
            err as { statusCode?: number; message: string; code?: string },
            maxImageBytes,
            maxLinesPerRequest,
            request.routeOptions.url === LINES_ROUTE,
            request.headers['content-type'],
          ) ?? toHttpFailure(err));
    const log = { ...fields, status: failure.status, code: failure.code, message: failure.message };
    if (failure.status >= 500 && failure.code === 'INTERNAL') logger.error({ ...log, err }, 'failed');
    // Nothing was refused: the client went away first. Said as over gRPC (call-handler.ts).
    else if (failure.status === CLIENT_CLOSED) logger.info(log, 'ended after the caller left');
    // A refusal for load (429) is counted, and logged at debug only, as over gRPC (call-handler.ts); one
    // over a caller's quota (the access hook's, or an instance's relayed by a gateway) at info, as over
    // gRPC (access-interceptor.ts): one caller's policy, which an operator looks for by caller.
    else if (failure.status === 429 && failure.code === 'RESOURCE_EXHAUSTED' && !isOverQuota(failure.message)) logger.debug(log, 'refused');
    // A refusal of who calls (the access hook's, or the gateway's instances' relayed, cluster-backend.ts)
    // at warn, one over a quota at info: once a source and kind an interval, the rest counted (refusal-log.ts).
    else if (err instanceof AuthFailure) refusals.refused(logger, httpFallbackIdentity(request, clientIpv6Prefix), refusalKind(err), log);
    else if (isOverQuota(failure.message)) {
      refusals.refused(logger, httpFallbackIdentity(request, clientIpv6Prefix), overQuotaKind(failure.message), log, 'info');
    } else logger.info(log, 'refused');
    if (err instanceof AuthFailure) void reply.header('www-authenticate', bearerChallenge(err));
    return sendFailure(request, reply, failure, err instanceof AuthFailure);
  });
  app.addHook('preClose', (done) => {
    closing.abort();
    done();
  });
  // The counts not yet logged (an instance's access control logs its own when it closes).
  if (!options.access) app.addHook('onClose', async () => refusals.close());
  // An answer while draining closes its connection: close() waits for every connection to end, and
  // a kept-alive client sends its next request to a server that still takes it.
  app.addHook('onSend', async (_request, reply) => {
    if (draining()) void reply.header('connection', 'close');
  });

  const { uploads, weigh, heldBodies } = options;
  /** Requests let in by their headers whose body is still to be read: what takes their place ahead of later arrivals back. */
  const promised = new WeakMap<FastifyRequest, () => void>();
  const bodyRead = (request: FastifyRequest): void => promised.get(request)?.();
  /** Let in (undefined) or refused for load, from the request's headers and query. */
  const weighed = (request: FastifyRequest, reply: FastifyReply, kind: WorkKind, arriving: boolean): Refused | undefined => {
    const full = heldBodies?.refusalBeforeBody(declaredBodyBytes(request.headers));
    if (full) return { refusal: full };
    let terms;
    try {
      terms = callTerms(request, reply);
    } catch {
      // A malformed timeout or priority is answered by the handler, with its reason.
      return undefined;
    }
    const weighing = weigh?.({ kind, ...terms, arriving });
    if (weighing && !weighing.refusal) {
      promised.set(request, weighing.unpromise);
      reply.raw.once('close', weighing.unpromise);
      return undefined;
    }
    return weighing;
  };
  /**
   * Answers a refusal for load, counted but not logged, as over gRPC: under overload there are
   * hundreds a second. Its body is not read: the connection closes after the answer, which curl,
   * fetch and Python's requests all read whole.
   */
  const refuse = (request: FastifyRequest, reply: FastifyReply, { refusal }: Refused): Promise<FastifyReply> =>
    sendFailure(request, reply, toHttpFailure(refusal));
  /** Requests whose body is read as an image though it did not say so, with the type it came with (untypedBody). */
  const untyped = new WeakMap<FastifyRequest, string>();
  /** Bodies read under the upload gate, counted there until their images are read. */
  const bodyTurns = new WeakMap<FastifyRequest, BodyTurn>();

  /**
   * The hooks of a route whose body is images: weighed on arrival, before its body is read, and
   * again at its upload turn if it had to wait for one (body-turn.ts), as gRPC calls are
   * (early-refusal.ts).
   */
  const imageBody = (kind: WorkKind) => ({
    onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
      // Its body is not read: the connection closes after the answer (sendFailure).
      if (draining())
        throw new HttpError(503, 'UNAVAILABLE', 'draining: this server is shutting down; send the request to another instance');
      const coding = unsupportedCoding(request.headers['content-encoding']);
      if (coding) throw new HttpError(415, 'INVALID_ARGUMENT', coding);
      const sentAs = untypedBody(request.headers);
      if (sentAs !== null) {
        untyped.set(request, sentAs);
        request.headers['content-type'] = 'application/octet-stream';
      }
      const type = request.headers['content-type'];
      if (type !== undefined && !readsBodyType(type)) throw new HttpError(415, 'INVALID_ARGUMENT', unsupportedBody(type));
      // The query's options and the call's terms, refused before the body is asked for where they are wrong already;
      // the body's own fields are checked with them once it is read.
      parseOptions(request.query as Record<string, unknown>, undefined, CALL_PARAMETERS);
      callTerms(request, reply);
      const weighing = weighed(request, reply, kind, true);
      if (weighing) return refuse(request, reply, weighing);
    },
    preParsing: async (request: FastifyRequest, reply: FastifyReply, payload: NodeJS.ReadableStream) => {
      if (uploads) {
        const turn = await bodyTurn(uploads, request, reply);
        bodyTurns.set(request, turn);
        // Others' bodies may have filled the held bodies' bound while it waited, or the load its admission's.
        if (turn.waited) {
          bodyRead(request);
          const weighing = weighed(request, reply, kind, false);
          if (weighing) {
            turn.release();
            return refuse(request, reply, weighing);
          }
        }
      }
      // A body declared over its limit is refused from its length when it is parsed: no "go on" for it.
      if (/^100-continue$/i.test(request.headers.expect ?? '')) {
        const limit = bodyLimit(request.headers['content-type'], maxImageBytes, kind === 'line' ? maxLinesPerRequest : 1);
        if (Number(request.headers['content-length'] ?? 0) <= limit) reply.raw.writeContinue();
      }
      return payload;
    },
  });

  /** `bytes` of the request's body, counted in the held bodies until its answer. */
  const holdUntilAnswered = (reply: FastifyReply, bytes: number): void => {
    if (!heldBodies) return;
    const held = heldBodies.hold(bytes);
    // A client gone while its body was read has closed its answer already.
    if (reply.raw.closed) held.release();
    else reply.raw.once('close', () => held.release());
  };
  /**
   * The request's images, held until its answer: a JSON body from when it has arrived, before it
   * waits for one of the threads that parse it (json-images-thread.ts). Held only once parsed, 200
   * JSON bodies of 29 MB at once took a gateway 1.86 GB above its level, read whole and waiting.
   */
  const readHeldImages = async (request: FastifyRequest, reply: FastifyReply, many: boolean, maxImages: number): Promise<Images> => {
    const body = request.body;
    if (body instanceof JsonBody) holdUntilAnswered(reply, body.bytes.byteLength);
    const read = await readImages(request, many, maxImages, maxImageBytes).finally(() => bodyTurns.get(request)?.release());
    const imageBytes = read.images.reduce((sum, image) => sum + image.byteLength, 0);
    if (!(body instanceof JsonBody)) holdUntilAnswered(reply, imageBytes);
    return read;
  };

  app.post('/api/ocr', imageBody('page'), async (request, reply) => {
    const { images, fields } = await readHeldImages(request, reply, false, 1);
    bodyRead(request);
    const call = httpCall(request, reply, fields);
    const image = images[0];
    checkImage(image, 'image', untyped.get(request));
    const opts = parseOptions(request.query as Record<string, unknown>, fields, CALL_PARAMETERS);
    return pageJson(await answerInTime(backend.recognize(image, opts, call), call));
  });

  app.post(LINES_ROUTE, imageBody('line'), async (request, reply) => {
    const { images, fields } = await readHeldImages(request, reply, true, maxLinesPerRequest);
    bodyRead(request);
    const call = httpCall(request, reply, fields);
    // A bad line image fails alone, as over gRPC: only the request's form is checked here, and
    // whether a body that did not say it is an image is one.
    const sentAs = untyped.get(request);
    if (sentAs !== undefined) checkImage(images[0], 'image', sentAs);
    const opts = parseOptions(request.query as Record<string, unknown>, fields, CALL_PARAMETERS);
    return linesJson(await answerInTime(backend.recognizeLines(images, opts, call), call));
  });

  app.get('/api/info', async (request, reply) => {
    const call = httpCall(request, reply);
    // A gateway asks its cluster: past its timeout_ms, a 504 rather than the cancelled call's 499.
    return infoJson(await answerInTime(backend.serverInfo(call), call));
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) =>
    (await backend.ready()) ? { status: 'ready' } : reply.status(503).send({ status: backend.starting?.() ? 'starting' : 'draining' }),
  );
  app.get('/metrics', async (_request, reply) => {
    const { contentType, text } = await backend.metrics();
    return reply.type(contentType).send(text);
  });

  // Unknown routes answer in the API's own shape, and a known route asked with another method says which it takes.
  // A path with a route pattern's characters (`/*`) names no route: hasRoute would match it to the pattern.
  const methodsOf = (url: string): (typeof ROUTE_METHODS)[number][] =>
    /[*:]/.test(url) ? [] : ROUTE_METHODS.filter((method) => app.hasRoute({ method, url }));
  const routeMethods = (request: FastifyRequest): (typeof ROUTE_METHODS)[number][] => methodsOf(request.url.split('?')[0]!);
  /** A route's path asked with a slash after it (`/api/ocr/`), which names no route: the path the caller meant. */
  const withoutSlash = (url: string): string | null => {
    const trimmed = url.replace(/\/+$/, '');
    return trimmed !== url && trimmed !== '' && methodsOf(trimmed).length > 0 ? trimmed : null;
  };
  const notFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const url = request.url.split('?')[0]!;
    const allowed = routeMethods(request);
    const meant = withoutSlash(url);
    const failure: HttpFailure =
      allowed.length > 0
        ? {
            status: 405,
            code: 'UNIMPLEMENTED',
            message: `${request.method} ${url} is not served; send ${allowed.join(' or ')} (the API: /docs)`,
          }
        : {
            status: 404,
            code: 'NOT_FOUND',
            message: meant
              ? `no route ${request.method} ${url}; the route is ${meant}, without the slash after it`
              : `no route ${request.method} ${url}; the API is described at /docs and /openapi.json`,
          };
    if (allowed.length > 0) {
      wrongMethodRoute.set(request, url);
      void reply.header('allow', allowHeader(allowed));
    }
    return reply.status(failure.status).send(failureJson(failure));
  };
  app.setNotFoundHandler(notFound);

  const document = openApiDocument(options.version);
  await app.register(swagger, { mode: 'static', specification: { document: document as never } });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', async () => document);
  await app.register(fastifyStatic, { root: WEB_ROOT, prefix: '/', index: 'index.html' });
  return app;
}
