import type * as tfTypes from '@tensorflow/tfjs';

/**
 * Starts the tensor engine for inference through the project's initBackend (src/engine/backend.ts) and
 * hands back the '@tensorflow/tfjs' module: the same instance face-api's node build requires, so the
 * detector and the age/gender model share one engine and one backend. Imported lazily so that the CLI
 * pays for tfjs only when it predicts.
 */
export async function ensureBackend(name: string = 'auto', threads?: number): Promise<typeof tfTypes> {
  const [{ BACKEND_CHOICES, initBackend }, { tf }] = await Promise.all([
    import('../engine/backend.js'),
    import('../engine/tfjs.js'),
  ]);
  const backend = BACKEND_CHOICES.find((c) => c === name);
  if (!backend) {
    const { UserError } = await import('../util/errors.js');
    throw new UserError(`unknown backend "${name}" (expected ${BACKEND_CHOICES.join(', ')})`);
  }
  await initBackend({ backend, threads });
  return tf;
}
