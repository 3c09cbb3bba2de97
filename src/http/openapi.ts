/** The HTTP API as an OpenAPI 3 document: served at /openapi.json and rendered at /docs. */
import { SUPPORTED_FORMATS } from '../shared/image-format.js';
import { OPTION_FIELDS } from './request-options.js';

const optionParameters = Object.entries(OPTION_FIELDS).map(([name, { kind, description }]) => ({
  name,
  in: 'query',
  required: false,
  description,
  schema: { type: kind },
}));

const callParameters = [
  {
    name: 'timeout_ms',
    in: 'query',
    required: false,
    description: 'refuse at once what cannot be answered in this many milliseconds (also the `ocr-timeout-ms` header)',
    schema: { type: 'integer', minimum: 1 },
  },
  {
    name: 'priority',
    in: 'query',
    required: false,
    description: 'interactive (default) or batch: batch calls are refused first under load (also the `ocr-priority` header)',
    schema: { type: 'string', enum: ['interactive', 'batch'] },
  },
];

const options = {
  type: 'object',
  description: 'recognition options, under their gRPC names',
  properties: Object.fromEntries(Object.entries(OPTION_FIELDS).map(([name, { kind, description }]) => [name, { type: kind, description }])),
};

const line = {
  type: 'object',
  properties: {
    text: { type: 'string' },
    confidence: { type: 'number', description: '0..1' },
    box: {
      type: 'array',
      description: 'four corners [x, y], clockwise from the top-left of the text as read',
      items: { type: 'array', items: { type: 'number' } },
    },
  },
};

const timings = {
  type: 'object',
  properties: Object.fromEntries(
    ['queue_ms', 'decode_ms', 'detect_ms', 'classify_ms', 'recognize_ms', 'total_ms'].map((k) => [k, { type: 'number' }]),
  ),
};

const failure = {
  description: 'refused: `code` is the gRPC status number, `error` its name, `msg` what to do',
  content: {
    'application/json': {
      schema: { type: 'object', properties: { code: { type: 'integer' }, msg: { type: 'string' }, error: { type: 'string' } } },
    },
  },
};

const failures = {
  '400': failure,
  '413': { ...failure, description: 'too large for this server: no retry helps (scale the image down, split the batch)' },
  '415': { ...failure, description: `not a ${SUPPORTED_FORMATS} image, or a body type other than multipart, image/* or JSON` },
  '429': {
    ...failure,
    description:
      'refused for load or over a quota, answered a second after the request arrived: retry after the Retry-After header (seconds from the answer, 0: at once), or on another instance',
  },
  '503': { ...failure, description: 'no instance can serve (draining, or none healthy behind the gateway)' },
  '504': { ...failure, description: 'the timeout passed before the answer' },
};

const imageBodies = (many: boolean): object => ({
  required: true,
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['image'],
        properties: {
          image: many ? { type: 'array', items: { type: 'string', format: 'binary' } } : { type: 'string', format: 'binary' },
          ...options.properties,
        },
      },
    },
    ...(many ? {} : { 'image/*': { schema: { type: 'string', format: 'binary' } } }),
    'application/json': {
      schema: many
        ? {
            type: 'object',
            required: ['images'],
            properties: {
              images: {
                type: 'array',
                items: { type: 'string', format: 'byte' },
                description: 'the files, base64 (standard or URL-safe, or data: URLs); together at most the message limit',
              },
              options,
            },
          }
        : {
            type: 'object',
            required: ['image'],
            properties: {
              image: { type: 'string', format: 'byte', description: 'the file, base64 (standard or URL-safe, or a data: URL)' },
              options,
            },
          },
    },
  },
});

export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: {
      title: 'OCR service',
      version,
      description: `Chinese and English text in ${SUPPORTED_FORMATS} images. The same service over gRPC: proto/ocr/v1/ocr.proto.`,
    },
    paths: {
      '/api/ocr': {
        post: {
          summary: 'Read the text of a page: detection, then recognition of each line',
          parameters: [...optionParameters, ...callParameters],
          requestBody: imageBodies(false),
          responses: {
            '200': {
              description: "the lines in the upright page's reading order, boxes in the image's pixels",
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: {
                      code: { type: 'integer', enum: [0] },
                      msg: { type: 'string', enum: ['success'] },
                      data: { type: 'array', items: line },
                      width: { type: 'integer' },
                      height: { type: 'integer' },
                      rotation: {
                        type: 'integer',
                        enum: [0, 90, 180, 270],
                        description: 'degrees clockwise by which the page was found turned in the image (0 with auto_rotate off)',
                      },
                      instance_id: { type: 'string' },
                      timings,
                    },
                  },
                },
              },
            },
            ...failures,
          },
        },
      },
      '/api/ocr/lines': {
        post: {
          summary: 'Read images that each hold one line of text (recognition only); a bad image fails alone',
          parameters: [...optionParameters, ...callParameters],
          requestBody: imageBodies(true),
          responses: { '200': { description: 'one result per image, in order' }, ...failures },
        },
      },
      '/api/info': {
        get: { summary: 'Models, limits and defaults of the instance', responses: { '200': { description: 'server info' } } },
      },
      '/healthz': { get: { summary: 'Alive', responses: { '200': { description: 'the process answers' } } } },
      '/readyz': {
        get: { summary: 'Ready for calls', responses: { '200': { description: 'serving' }, '503': { description: 'draining' } } },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format' } } } },
    },
  };
}
