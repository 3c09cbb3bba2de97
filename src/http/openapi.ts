/** The HTTP API as an OpenAPI 3 document: served at /openapi.json and rendered at /docs. */
import { OPTION_RANGES } from '../server/convert.js';
import { SUPPORTED_FORMATS } from '../shared/image-format.js';
import { OPTION_FIELDS } from './request-options.js';

/** An option's schema: its type, and its range as the server checks it (OPTION_RANGES). */
const optionSchema = (name: string, kind: string): Record<string, unknown> => {
  const range = (OPTION_RANGES as Readonly<Record<string, { min: number; max: number }>>)[name];
  return { type: kind, ...(range ? { minimum: range.min, maximum: range.max } : {}) };
};

/** The request's own parameters, beside the options: as query parameters, form fields or in JSON `options`. */
const callFields = {
  timeout_ms: {
    description: 'refuse at once what cannot be answered in this many milliseconds (also the `ocr-timeout-ms` header)',
    schema: { type: 'integer', minimum: 1 },
  },
  priority: {
    description: 'interactive (default) or batch: batch calls are refused first under load (also the `ocr-priority` header)',
    schema: { type: 'string', enum: ['interactive', 'batch'] },
  },
};

/**
 * The request headers the server reads beside the query: the call's parameters under their header
 * names (call-terms.ts), and the request's id, which its answer and log lines carry.
 */
const headerParameters = [
  { name: 'ocr-timeout-ms', in: 'header', required: false, description: 'timeout_ms as a header', schema: callFields.timeout_ms.schema },
  { name: 'ocr-priority', in: 'header', required: false, description: 'priority as a header', schema: callFields.priority.schema },
  {
    name: 'x-request-id',
    in: 'header',
    required: false,
    description:
      "the request's id, which its answer and the server's log lines carry; a new UUID when absent, longer than 128 characters or not printable ASCII",
    schema: { type: 'string' },
  },
];

const callParameters = [
  ...Object.entries(callFields).map(([name, { description, schema }]) => ({
    name,
    in: 'query',
    required: false,
    description,
    schema,
  })),
  ...headerParameters,
];

const parameters = [
  ...Object.entries(OPTION_FIELDS).map(([name, { kind, description }]) => ({
    name,
    in: 'query',
    required: false,
    description,
    schema: optionSchema(name, kind),
  })),
  ...callParameters,
];

/** Options and the call's parameters as the properties of a form or of JSON `options`. */
const fieldProperties = {
  ...Object.fromEntries(
    Object.entries(OPTION_FIELDS).map(([name, { kind, description }]) => [name, { ...optionSchema(name, kind), description }]),
  ),
  ...Object.fromEntries(Object.entries(callFields).map(([name, { description, schema }]) => [name, { ...schema, description }])),
};

/**
 * An answer's object as the server sends it: every property always there and no other, so that a
 * client generated from this document gets required fields, and a conformance test notices any drift.
 */
const closed = (properties: Record<string, object>, extra: object = {}): object => ({
  type: 'object',
  ...extra,
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});

/** JSON `options`: any other key is refused (request-options.ts), so that a typo is not ignored. */
const options = {
  type: 'object',
  description: 'recognition options, under their gRPC names, and the parameters timeout_ms and priority',
  properties: fieldProperties,
  additionalProperties: false,
};

const line = closed({
  text: { type: 'string' },
  confidence: { type: 'number', minimum: 0, maximum: 1 },
  box: {
    type: 'array',
    description: 'four corners [x, y], clockwise from the top-left of the text as read',
    minItems: 4,
    maxItems: 4,
    items: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'number' } },
  },
});

const timings = closed(
  Object.fromEntries(
    ['queue_ms', 'decode_ms', 'detect_ms', 'classify_ms', 'recognize_ms', 'total_ms'].map((k) => [k, { type: 'number', minimum: 0 }]),
  ),
  { description: 'milliseconds in each stage at the instance; 0 for a stage the call did not run' },
);

const errorFields = {
  code: { type: 'integer', minimum: 1, description: 'the gRPC status number, never 0' },
  msg: { type: 'string', description: 'what is wrong and what to do' },
  error: { type: 'string', description: 'the gRPC status name, e.g. INVALID_ARGUMENT' },
};

const errorShape = closed(errorFields);

/** A route's answer in the replaced service's envelope: code 0, msg "success", and `fields`. */
const successShape = (fields: Record<string, object>): object =>
  closed({ code: { type: 'integer', enum: [0] }, msg: { type: 'string', enum: ['success'] }, ...fields });

/** /healthz' and /readyz' answer: `{"status": …}`, one of `statuses`. */
const statusShape = (...statuses: string[]): object => ({
  'application/json': { schema: closed({ status: { type: 'string', enum: statuses } }) },
});

/**
 * The response headers the server sends (app.ts, access-hook.ts, refusal-hold.ts); x-request-id is on
 * every answer, of every route, refusals included. Each answer lists those it carries.
 */
const HEADERS = {
  'x-request-id': {
    description:
      "the request's own x-request-id (up to 128 printable ASCII characters), else a new UUID: what the server's log lines of the request name",
    schema: { type: 'string' },
  },
  'Retry-After': {
    description: 'whole seconds from this answer after which a new request with as long a timeout_ms may be let in; 0: at once',
    schema: { type: 'integer', minimum: 0 },
  },
  'WWW-Authenticate': {
    description:
      'a Bearer challenge (RFC 6750), with error="invalid_token", "invalid_request" or "insufficient_scope" (and the scope) where one applies',
    schema: { type: 'string', example: 'Bearer realm="ocr", error="invalid_token"' },
  },
  Allow: { description: 'the methods the path takes', schema: { type: 'string' } },
};

type HeaderName = keyof typeof HEADERS;

/** An answer's headers: x-request-id and `more`, which it carries always, or sometimes where `sometimes`. */
const headers = (more: HeaderName[] = [], sometimes = false): Record<string, object> =>
  Object.fromEntries([
    ['x-request-id', { ...HEADERS['x-request-id'], required: true }],
    ...more.map((name): [string, object] => [name, { ...HEADERS[name], required: !sometimes }]),
  ]);

/** A success's answer, with the headers every answer has. */
const success = (description: string, content?: object): object => ({ description, headers: headers(), ...(content ? { content } : {}) });

const failure = (description: string, more: HeaderName[] = [], sometimes = false): object => ({
  description,
  headers: headers(more, sometimes),
  content: { 'application/json': { schema: errorShape } },
});

/** Refusals of who calls, where tokens are required (src/auth), with `WWW-Authenticate: Bearer`. */
const accessFailures = {
  '401': failure('no valid token (`Authorization: Bearer …`); held for the refusal pace (50 ms) before it is answered', [
    'WWW-Authenticate',
  ]),
  '403': failure('a token without the scope the route needs; held for the refusal pace (50 ms) before it is answered', [
    'WWW-Authenticate',
  ]),
};

/**
 * Tokens are the server's choice (`--api-keys`, `--jwks`): without them every request is let in, with
 * them the routes that check them want one. OpenAPI 3 says "either" as two requirements: none ({}), or a bearer token.
 */
const TOKEN_OPTIONAL = [{}, { bearer: [] }];
/** Routes that never look at a token: health, readiness, OPTIONS. */
const NO_TOKEN: object[] = [];

/** A request whose form the HTTP layer refuses, before its route looks at it (protocol-refusals.ts, request-timeout.ts). */
const MALFORMED = 'a malformed request: no Host header (HTTP/1.1), or a malformed URL';

/** A body coded beyond chunked, which Node passes on still coded (protocol-refusals.ts). */
const TRANSFER_CODING = 'a Transfer-Encoding besides chunked (gzip, chunked): send the body with a Content-Length, or chunked alone';

/**
 * What any request may be answered, on every route, beside the route's own answers: its form
 * refused, and any answer not listed, in the same shape. `badInput`: the route's own 400.
 */
const requestFailures = (badInput?: string): Record<string, object> => ({
  '400': failure(badInput ? `${badInput}; or ${MALFORMED}` : MALFORMED),
  '408': failure("the request did not arrive whole within the server's limit (its connection is then closed)"),
  '417': failure('an Expect header other than 100-continue: send the request without Expect, or with Expect: 100-continue'),
  '431': failure('request headers too large: send fewer or shorter headers'),
  '501': failure(TRANSFER_CODING),
  default: failure(
    '404 for a path not served, 405 (with Allow) for a method the path does not take, 500 for an internal error',
    ['Allow'],
    true,
  ),
});

const failures = {
  ...accessFailures,
  ...requestFailures('bad input: `msg` says what is wrong and what to send'),
  '413': failure('too large for this server: no retry helps (scale the image down, split the batch)'),
  '415': failure(
    `not a ${SUPPORTED_FORMATS} image, a body type other than multipart, image/*, application/octet-stream or JSON, or a body with a Content-Encoding`,
  ),
  '429': failure(
    'refused for load or over a quota, answered a second after the request arrived: retry after the Retry-After header (seconds from the answer, 0: at once), or on another instance',
    ['Retry-After'],
  ),
  '501': failure(
    `${TRANSFER_CODING}; or, through a gateway, its instances do not serve this request (they run a version older than the gateway)`,
  ),
  '503': failure(
    'no instance can serve (starting, draining, or none reachable behind the gateway); Retry-After where the gateway reaches no instance',
    ['Retry-After'],
    true,
  ),
  '504': failure(
    'timeout_ms (through a gateway, without one: its --deadline-ms) passed before the answer, or leaves too little time for the work estimated: then answered at once, with that estimate and the time left',
  ),
};

/**
 * A path's OPTIONS, answered above its routes (app.ts): the methods it takes, or a browser's CORS
 * preflight where --cors-origin names other origins (cross-origin.ts). `methods`: its Allow.
 */
const optionsOperation = (methods: string): object => ({
  summary: 'The methods the path takes, or a CORS preflight',
  security: NO_TOKEN,
  responses: {
    '204': {
      description: `no body: Allow lists the methods (${methods}); a CORS preflight (Origin and Access-Control-Request-Method) where --cors-origin is set gets the Access-Control-Allow-* headers instead, for an origin it names`,
      // A CORS preflight's answer has no Allow.
      headers: { ...headers(['Allow'], true), Allow: { ...HEADERS.Allow, required: false, schema: { type: 'string', example: methods } } },
    },
    ...requestFailures(),
  },
});

/** A GET path's operations: GET, HEAD (the same answer without its body) and OPTIONS. */
const readOperations = (get: { summary: string; responses: object; parameters?: object[]; security?: object[] }): object => ({
  get,
  head: { ...get, summary: `${get.summary} (headers only)` },
  options: optionsOperation('GET, HEAD, OPTIONS'),
});

const imageBodies = (many: boolean): object => {
  const binary = {
    schema: { type: 'string', format: 'binary', description: many ? 'one line image, the file itself' : 'the file itself' },
  };
  return {
    required: true,
    content: {
      'multipart/form-data': {
        schema: {
          type: 'object',
          required: ['image'],
          properties: {
            image: many ? { type: 'array', items: { type: 'string', format: 'binary' } } : { type: 'string', format: 'binary' },
            ...fieldProperties,
          },
        },
      },
      'image/*': binary,
      'application/octet-stream': binary,
      'application/json': {
        schema: many
          ? {
              type: 'object',
              required: ['images'],
              additionalProperties: false,
              properties: {
                images: {
                  type: 'array',
                  minItems: 1,
                  items: { type: 'string', format: 'byte' },
                  description: 'the files, base64 (standard or URL-safe, or data: URLs); together at most the message limit',
                },
                options,
              },
            }
          : {
              type: 'object',
              required: ['image'],
              additionalProperties: false,
              properties: {
                image: { type: 'string', format: 'byte', description: 'the file, base64 (standard or URL-safe, or a data: URL)' },
                options,
              },
            },
      },
    },
  };
};

const linesAnswer = successShape({
  data: {
    type: 'array',
    description: 'one item per image, in order; an image that failed has the fields of an error answer (code ≠ 0, msg, error)',
    items: {
      type: 'object',
      required: ['text', 'confidence'],
      additionalProperties: false,
      properties: {
        text: { type: 'string', description: 'empty for an image that failed' },
        confidence: { type: 'number', minimum: 0, maximum: 1, description: '0 for an image that failed' },
        ...errorFields,
      },
    },
  },
  instance_id: { type: 'string' },
  timings,
});

const pageAnswer = successShape({
  data: { type: 'array', items: line },
  width: { type: 'integer' },
  height: { type: 'integer' },
  rotation: {
    type: 'integer',
    enum: [0, 90, 180, 270],
    description: 'degrees clockwise by which the page was found turned in the image (0 with auto_rotate off)',
  },
  cached: {
    type: 'boolean',
    description:
      'answered from the result cache: the same image was read before with the same options and models (or was being read for a copy sent at the same time), and nothing was read again; timings then hold only total_ms',
  },
  instance_id: { type: 'string' },
  timings,
});

const whole = { type: 'integer', minimum: 0 };

/** GetServerInfo's answer in snake_case (response-json.ts' infoJson). */
const infoAnswer = successShape({
  data: closed({
    instance_id: { type: 'string', description: 'the instance that answered, as in every answer' },
    server_version: { type: 'string' },
    manifest: { type: 'string', description: 'the model set' },
    models: {
      type: 'array',
      items: closed({
        role: { type: 'string', enum: ['det', 'cls', 'rec'] },
        file: { type: 'string' },
        version: { type: 'string' },
        precision: { type: 'string', description: 'float32 as shipped, or int8 (quantised when the server loaded it)' },
      }),
    },
    dictionary_size: whole,
    workers: whole,
    threads_per_worker: whole,
    limits: closed({
      max_pixels: { ...whole, description: 'the most pixels an image may decode to' },
      min_side: whole,
      max_message_bytes: { ...whole, description: 'the largest request body (the images together) the server takes' },
      max_lines_per_request: whole,
      max_tiles_per_image: whole,
      max_queued_requests: { ...whole, deprecated: true, description: 'always 0: calls are admitted by cost, not by count' },
      memory_budget_bytes: { ...whole, description: 'what admitted calls may hold at once; a larger call is refused' },
      max_wait_ms: { ...whole, description: 'a call without timeout_ms is refused when its estimated wait is longer' },
    }),
    defaults: closed(Object.fromEntries(Object.entries(OPTION_FIELDS).map(([name, { kind }]) => [name, optionSchema(name, kind)])), {
      description: 'the options a request that leaves them out gets',
    }),
  }),
});

export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: {
      title: 'OCR service',
      version,
      description: `Chinese and English text in ${SUPPORTED_FORMATS} images. The same service over gRPC: proto/ocr/v1/ocr.proto.`,
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'an API key or a JWT, where the server requires tokens (ocr serve --api-keys, --jwks): then /api/ocr and /api/ocr/lines want one, and /api/info and /metrics too unless --no-protect-info; a server without tokens lets every request in and ignores the header',
        },
      },
    },
    // Every route that looks at a token; the others say they take none.
    security: TOKEN_OPTIONAL,
    paths: {
      '/api/ocr': {
        post: {
          summary: 'Read the text of a page: detection, then recognition of each line',
          parameters,
          requestBody: imageBodies(false),
          responses: {
            '200': success("the lines in the upright page's reading order, boxes in the image's pixels", {
              'application/json': { schema: pageAnswer },
            }),
            ...failures,
          },
        },
        options: optionsOperation('POST, OPTIONS'),
      },
      '/api/ocr/lines': {
        post: {
          summary: 'Read images that each hold one line of text (recognition only); a bad image fails alone',
          parameters,
          requestBody: imageBodies(true),
          responses: {
            '200': success('one result per image, in order', { 'application/json': { schema: linesAnswer } }),
            ...failures,
          },
        },
        options: optionsOperation('POST, OPTIONS'),
      },
      '/api/info': readOperations({
        summary: 'Models, limits and defaults of the instance',
        parameters: callParameters,
        responses: {
          '200': success('models, limits and defaults', { 'application/json': { schema: infoAnswer } }),
          ...accessFailures,
          ...requestFailures('a malformed timeout_ms or priority'),
          '429': failures['429'],
          '501': failures['501'],
          '503': failures['503'],
          '504': failures['504'],
        },
      }),
      '/healthz': readOperations({
        summary: 'Alive',
        security: NO_TOKEN,
        responses: { '200': success('the process answers', statusShape('ok')), ...requestFailures() },
      }),
      '/readyz': readOperations({
        summary: 'Ready for calls',
        security: NO_TOKEN,
        responses: {
          '200': success('serving', statusShape('ready')),
          '503': success(
            'starting: an instance still loading its models, or a gateway that has reached no instance yet; draining: shutting down',
            statusShape('starting', 'draining'),
          ),
          ...requestFailures(),
        },
      }),
      '/metrics': readOperations({
        summary: 'Prometheus metrics',
        responses: {
          '200': success('text exposition format', { 'text/plain': { schema: { type: 'string' } } }),
          ...accessFailures,
          ...requestFailures(),
        },
      }),
    },
  };
}
