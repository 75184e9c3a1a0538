import { BOX_SCHEMA, FACE_SCHEMA } from '../api/face-schema.js';
import { ERROR_CODES } from './http-error.js';

/**
 * The JSON Schemas of the API's routes. Fastify validates requests with them (query and multipart form
 * fields), serialises answers with them, and @fastify/swagger writes /openapi.json from them: one
 * declaration per shape. A face is src/api/face-schema.ts's FACE_SCHEMA, the contract shared with
 * `predict --json` and the library.
 */

/** FACE_SCHEMA without its `$id`s: inlined in a route schema, ids would clash between the routes. */
function withoutIds<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(withoutIds) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([k]) => k !== '$id')
      .map(([k, v]) => [k, withoutIds(v)]),
  ) as T;
}

const FACE = withoutIds({
  ...FACE_SCHEMA,
  properties: { ...FACE_SCHEMA.properties, box: BOX_SCHEMA },
});

/**
 * The detector confidence a request may ask for: [0, 1). A threshold of 1 keeps no face at all (no
 * detection scores exactly 1), so it is refused up front rather than answered with an empty or failed
 * prediction for every photo.
 */
const MIN_SCORE_RANGE = { minimum: 0, exclusiveMaximum: 1 } as const;

/**
 * /v1/predict's parameters, in the query string or as multipart form fields (both are checked with this
 * schema). Unknown parameters are refused, so a typo (`minscore`, `minScore[]`) is a 400, not ignored.
 */
const PREDICT_PARAMS = {
  type: 'object',
  additionalProperties: false,
  properties: {
    detect: {
      type: 'boolean',
      default: true,
      description:
        'Find faces with the detector (default true). false: the whole image is one face crop (e.g. a UTKFace crop).',
    },
    minScore: {
      type: 'number',
      ...MIN_SCORE_RANGE,
      description: "Minimum detector confidence in [0, 1) (the detector's default when absent).",
    },
  },
} as const;

/** What a valid value of each parameter is, in the words of a 400's message. */
export const PARAM_EXPECT: Record<keyof typeof PREDICT_PARAMS.properties, string> = {
  detect: 'true or false',
  minScore: 'a number in [0, 1)',
};

const ERROR = {
  type: 'object',
  description: 'Every error: a stable code to branch on and a message to show as is.',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: { code: { type: 'string', enum: ERROR_CODES }, message: { type: 'string' } },
    },
  },
} as const;

const error = (description: string) => ({ ...ERROR, description });

const QUEUE = {
  type: 'object',
  required: ['running', 'waiting', 'concurrency', 'maxWaiting'],
  properties: {
    running: { type: 'integer' },
    waiting: { type: 'integer' },
    concurrency: { type: 'integer' },
    maxWaiting: { type: 'integer' },
  },
} as const;

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/tiff', 'image/avif'];
const BINARY = { schema: { type: 'string', format: 'binary' } };

/**
 * /v1/predict's body, for the document only: the bytes are checked by src/serve/image-check.ts (format,
 * size, decodability) and the form fields by PREDICT_PARAMS, not by a schema over the raw body.
 */
export const PREDICT_BODY = {
  content: {
    ...Object.fromEntries(IMAGE_TYPES.map((t) => [t, BINARY])),
    'application/octet-stream': BINARY,
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['image'],
        properties: { image: { type: 'string', format: 'binary' }, ...PREDICT_PARAMS.properties },
      },
    },
  },
};

export function predictRouteSchema(limits: { maxBodyBytes: number; maxPixels: number }) {
  return {
    summary: 'Age and gender of every face in an image',
    description:
      'Send the image as the raw body (an image/* content type, or application/octet-stream) or as the ' +
      'multipart/form-data field `image` (the form may carry `detect` and `minScore` too). Limits: body ' +
      `${limits.maxBodyBytes} bytes (413 body_too_large), ${limits.maxPixels} pixels read from the header ` +
      'before decoding (413 image_too_large). When every inference slot and the queue are taken the answer ' +
      'is 503 busy with Retry-After.',
    querystring: PREDICT_PARAMS,
    response: {
      200: {
        description: 'The faces found (possibly none), the model that answered, server time in ms.',
        type: 'object',
        required: ['faces', 'model', 'ms'],
        additionalProperties: false,
        properties: {
          faces: { type: 'array', items: FACE },
          model: { type: 'string', description: 'name of the serving bundle' },
          ms: { type: 'number', description: 'server time for this request (checks, queue wait, inference)' },
        },
      },
      400: error('missing_image, invalid_parameter or a malformed request'),
      413: error('body_too_large, too_many_parts (one file, 8 fields) or image_too_large'),
      415: error('unsupported_media_type (not an image or multipart body) or unsupported_image_format'),
      422: error('invalid_image (not decodable) or truncated_image'),
      500: error('model_error: the model failed on this image'),
      503: error('busy: all inference slots and the queue are taken (see Retry-After)'),
    },
  };
}

export const MODEL_ROUTE_SCHEMA = {
  summary: "The serving bundle's preprocessing contract and its evaluation metrics",
  response: {
    200: {
      type: 'object',
      required: ['name', 'detector', 'faceCrop', 'preprocess', 'metrics', 'files'],
      additionalProperties: false,
      properties: {
        name: { type: 'string' },
        detector: { type: 'string', description: 'face detector the server runs' },
        faceCrop: {
          type: ['object', 'null'],
          additionalProperties: true,
          description: 'rule from a detector box to the model crop (scale, dx, dy) the server applies',
        },
        preprocess: {
          type: 'object',
          additionalProperties: true,
          description: "the bundle's preprocess.json",
        },
        metrics: {
          type: ['object', 'null'],
          additionalProperties: true,
          description: "the bundle's metrics.json, without local paths",
        },
        files: { type: 'array', items: { type: 'string' }, description: 'bundle files served under /model/' },
      },
    },
  },
};

export const HEALTH_ROUTE_SCHEMA = {
  summary: 'The model answers: a small prediction run at most every few seconds',
  response: {
    200: {
      type: 'object',
      required: ['status', 'model', 'uptimeS', 'checkedS', 'queue'],
      additionalProperties: false,
      properties: {
        status: { type: 'string', enum: ['ok'] },
        model: { type: 'string' },
        uptimeS: { type: 'number' },
        checkedS: { type: 'number', description: 'seconds since the model last answered the check' },
        queue: QUEUE,
      },
    },
    503: error('model_error: the model no longer answers (e.g. NaN outputs)'),
  },
};

export const OPENAPI_ROUTE_SCHEMA = {
  summary: 'This document (OpenAPI 3)',
  response: { 200: { type: 'object', additionalProperties: true } },
};
