import type { ErrorCode } from './http-error.js';

/**
 * The OpenAPI 3 description served at /openapi.json. Hand-written (the API is four routes), and kept
 * honest by test/serve-api.test.ts, which checks every path here is a live route and every API route
 * is described.
 */
const ERROR_CODES: ErrorCode[] = [
  'bad_request',
  'missing_image',
  'invalid_parameter',
  'not_found',
  'method_not_allowed',
  'body_too_large',
  'too_many_parts',
  'image_too_large',
  'unsupported_media_type',
  'unsupported_image_format',
  'invalid_image',
  'truncated_image',
  'busy',
  'internal_error',
];

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

export function openApiDocument(opts: {
  version: string;
  maxBodyBytes: number;
  maxPixels: number;
}): Record<string, unknown> {
  const detectParam = {
    name: 'detect',
    in: 'query',
    required: false,
    description:
      'Find faces with the detector (default true). false: the whole image is one face crop (e.g. UTKFace crops).',
    schema: { type: 'boolean', default: true },
  };
  const minScoreParam = {
    name: 'minScore',
    in: 'query',
    required: false,
    description: "Minimum detector confidence in [0, 1] (the detector's default when absent).",
    schema: { type: 'number', minimum: 0, maximum: 1 },
  };
  const imageFormats = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/tiff', 'image/avif'];
  const binary = { schema: { type: 'string', format: 'binary' } };
  return {
    openapi: '3.0.3',
    info: {
      title: 'agegender',
      version: opts.version,
      description:
        'Age and gender of the faces in a photo, from a multi-task CNN. Answers `M/46`-style labels with the ' +
        'DEX age expectation, its spread, and p(male). Errors are JSON `{error: {code, message}}`.',
    },
    paths: {
      '/v1/predict': {
        post: {
          summary: 'Predict age and gender of every face in an image',
          description:
            `Send the image as the raw body (an image/* content type, or application/octet-stream) or as the ` +
            `multipart/form-data field \`image\` (form fields \`detect\` and \`minScore\` are read too). ` +
            `Limits: body ${opts.maxBodyBytes} bytes (413 body_too_large), ${opts.maxPixels} pixels read from ` +
            `the header before decoding (413 image_too_large). When every inference slot and the queue are ` +
            `taken the answer is 503 busy with Retry-After.`,
          parameters: [detectParam, minScoreParam],
          requestBody: {
            required: true,
            content: {
              ...Object.fromEntries(imageFormats.map((t) => [t, binary])),
              'application/octet-stream': binary,
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['image'],
                  properties: {
                    image: { type: 'string', format: 'binary' },
                    detect: { type: 'boolean', default: true },
                    minScore: { type: 'number', minimum: 0, maximum: 1 },
                  },
                },
              },
            },
          },
          responses: {
            '200': {
              description: 'The faces found (possibly none), the model that answered, server time in ms.',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Prediction' } } },
            },
            '400': errorResponse('missing_image, invalid_parameter or a malformed request'),
            '413': errorResponse(
              'body_too_large, too_many_parts (multipart: one file, 8 fields) or image_too_large (pixel count from the header)',
            ),
            '415': errorResponse(
              'unsupported_media_type (not an image/multipart body) or unsupported_image_format',
            ),
            '422': errorResponse('invalid_image (not decodable) or truncated_image'),
            '503': {
              ...errorResponse('busy: all inference slots and the queue are taken'),
              headers: {
                'Retry-After': {
                  description: 'Seconds to wait before retrying',
                  schema: { type: 'integer' },
                },
              },
            },
          },
        },
      },
      '/v1/model': {
        get: {
          summary: "The serving bundle's preprocessing contract and its evaluation metrics",
          responses: {
            '200': {
              description: 'Model description',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Model' } } },
            },
          },
        },
      },
      '/healthz': {
        get: {
          summary: 'Liveness and queue state',
          responses: {
            '200': {
              description: 'The server is up and the model is loaded',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } },
            },
          },
        },
      },
      '/openapi.json': {
        get: {
          summary: 'This document',
          responses: { '200': { description: 'OpenAPI 3 document', content: { 'application/json': {} } } },
        },
      },
    },
    components: {
      schemas: {
        Box: {
          type: 'object',
          description: 'Pixels of the (EXIF-oriented) image; the whole image when detect=false.',
          required: ['x', 'y', 'w', 'h'],
          properties: {
            x: { type: 'number' },
            y: { type: 'number' },
            w: { type: 'number' },
            h: { type: 'number' },
          },
        },
        Face: {
          type: 'object',
          required: ['box', 'age', 'ageSpread', 'gender', 'pMale', 'score', 'label'],
          properties: {
            box: { $ref: '#/components/schemas/Box' },
            age: { type: 'number', description: 'DEX expectation over ages 0..100' },
            ageSpread: { type: 'number', description: 'Standard deviation of the age distribution (years)' },
            gender: { type: 'string', enum: ['M', 'F'] },
            pMale: { type: 'number', minimum: 0, maximum: 1 },
            score: { type: 'number', description: 'Detector confidence; 1 when detect=false' },
            label: { type: 'string', example: 'M/46' },
          },
        },
        Prediction: {
          type: 'object',
          required: ['faces', 'model', 'ms'],
          properties: {
            faces: { type: 'array', items: { $ref: '#/components/schemas/Face' } },
            model: { type: 'string', description: 'Name of the serving bundle' },
            ms: {
              type: 'number',
              description: 'Server time for this request (checks, queue wait, inference)',
            },
          },
        },
        Model: {
          type: 'object',
          required: ['name', 'detector', 'preprocess', 'metrics'],
          properties: {
            name: { type: 'string' },
            detector: { type: 'string', description: 'Face detector the server runs' },
            faceCrop: {
              type: 'object',
              nullable: true,
              description: 'Rule from a detector box to the model crop (scale, dx, dy) the server applies',
            },
            preprocess: { type: 'object', description: "The bundle's preprocess.json" },
            metrics: { type: 'object', nullable: true, description: "The bundle's metrics.json" },
            files: {
              type: 'array',
              items: { type: 'string' },
              description: 'Bundle files served under /model/',
            },
          },
        },
        Health: {
          type: 'object',
          required: ['status', 'model', 'queue'],
          properties: {
            status: { type: 'string', enum: ['ok'] },
            model: { type: 'string' },
            uptimeS: { type: 'number' },
            queue: {
              type: 'object',
              properties: {
                running: { type: 'integer' },
                waiting: { type: 'integer' },
                concurrency: { type: 'integer' },
                maxWaiting: { type: 'integer' },
              },
            },
          },
        },
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string', enum: ERROR_CODES }, message: { type: 'string' } },
            },
          },
        },
      },
    },
  };
}
