/**
 * Every error the API answers has one shape, `{ error: { code, message } }`, so a client can branch on a
 * stable `code` and show `message` as is. The codes are listed in the OpenAPI document's error schemas.
 */
export const ERROR_CODES = [
  'bad_request',
  'missing_image',
  'invalid_parameter',
  'not_found',
  'method_not_allowed',
  'request_timeout',
  'body_too_large',
  'too_many_parts',
  'image_too_large',
  'header_too_large',
  'unsupported_media_type',
  'unsupported_image_format',
  'invalid_image',
  'truncated_image',
  'busy',
  'model_error',
  'internal_error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
    /** Extra response headers, e.g. Retry-After on 503. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

/**
 * Fastify's and @fastify/multipart's own errors (body limit, unknown content type, malformed multipart,
 * file too large...) carry a status and an FST_* code; this maps them onto our codes so a client never
 * sees two error shapes.
 */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  const message = (e.message ?? String(err)).split('\n')[0]!;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return new HttpError(413, 'body_too_large', message);
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      // Not a size problem: the form has more files or fields than the API takes.
      return new HttpError(
        413,
        'too_many_parts',
        `multipart form over its limits (${message}): send one file in field "image" and at most 8 fields`,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new HttpError(415, 'unsupported_media_type', message);
  }
  if (status === 413) return new HttpError(413, 'body_too_large', message);
  if (status === 415) return new HttpError(415, 'unsupported_media_type', message);
  if (status === 404) return new HttpError(404, 'not_found', message);
  if (status === 405) return new HttpError(405, 'method_not_allowed', message);
  if (status >= 400 && status < 500) return new HttpError(status, 'bad_request', message);
  // Anything else is our bug: do not leak internals to the client.
  return new HttpError(500, 'internal_error', 'internal error (see the server log)');
}

/**
 * The same error as a whole HTTP/1.1 response, for the errors Node's parser raises before fastify sees a
 * request (a header over the size limit, a request not received within the timeout, bytes that are not
 * HTTP): the connection is closed after it.
 */
export function rawErrorResponse(err: HttpError): string {
  const body = JSON.stringify(err.body());
  return (
    `HTTP/1.1 ${err.statusCode} ${STATUS_TEXT[err.statusCode] ?? 'Error'}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Connection: close\r\n\r\n${body}`
  );
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/** Node's parser errors (the clientError event) as API errors; `timeouts` as the server set them. */
export function clientError(
  err: NodeJS.ErrnoException,
  timeouts: { requestTimeoutS: number; headersTimeoutS: number },
): HttpError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new HttpError(431, 'header_too_large', 'request headers are over the size limit');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HttpError(
        408,
        'request_timeout',
        `the request was not received in time (headers within ${timeouts.headersTimeoutS} s, ` +
          `the whole request within ${timeouts.requestTimeoutS} s)`,
      );
    default:
      return new HttpError(400, 'bad_request', `malformed HTTP request (${err.code ?? 'parse error'})`);
  }
}
