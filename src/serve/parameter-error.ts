import { PARAM_EXPECT } from './api-schemas.js';
import { HttpError } from './http-error.js';

/** The parts of an ajv error this needs (fastify's validation errors are ajv's). */
interface SchemaError {
  instancePath?: string;
  keyword?: string;
  params?: { additionalProperty?: string; missingProperty?: string };
  message?: string;
}

/**
 * A parameter the route schema refused, as a 400 that names it, says what is valid and echoes what was
 * sent: `minScore must be a number in [0, 1), not "1"`, `unknown parameter "minScore[]" (expected detect,
 * minScore)`. `raw` holds the values as sent (before coercion).
 */
export function parameterError(errors: readonly unknown[], raw: Record<string, unknown>): HttpError {
  const e = (errors[0] ?? {}) as SchemaError;
  const known = Object.keys(PARAM_EXPECT).join(', ');
  if (e.keyword === 'additionalProperties' && e.params?.additionalProperty !== undefined) {
    return new HttpError(
      400,
      'invalid_parameter',
      `unknown parameter "${e.params.additionalProperty}" (expected ${known})`,
    );
  }
  const name = (e.instancePath ?? '').replace(/^\//, '').split('/')[0] ?? '';
  const expect = PARAM_EXPECT[name as keyof typeof PARAM_EXPECT];
  if (!expect)
    return new HttpError(400, 'invalid_parameter', `invalid parameters: ${e.message ?? 'rejected'}`);
  const sent = raw[name];
  return new HttpError(
    400,
    'invalid_parameter',
    `${name} must be ${expect}, not ${JSON.stringify(Array.isArray(sent) ? sent.join(',') : String(sent ?? ''))}`,
  );
}
