/**
 * An error whose message is fit to show a user as is: one line, naming the file and the reason.
 * The CLI prints it without a stack trace and exits non-zero; any other error is a bug and keeps its stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * A UserError about the model rather than the input (its outputs are NaN, its files are damaged): the
 * server answers it as its own failure (500), not as a bad image (422).
 */
export class ModelError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

/** A file that could not be read (util/regular-file.ts): `why` is the reason alone, without the file. */
export class FileReadError extends UserError {
  override name = 'FileReadError';
  constructor(
    readonly file: string,
    readonly why: string,
    /** The errno code (ENOENT, EACCES, ...), or 'special_file' / 'too_large'. */
    readonly code: string,
  ) {
    super(`${file}: ${why}`);
  }
}

/** Short reason text of any thrown value, for one-line messages (a file error's reason without its file). */
export function reason(err: unknown): string {
  if (err instanceof FileReadError) return err.why;
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim();
}

/**
 * Typed errors of the library API (src/index.ts, src/web/): each is a UserError, so the CLI prints its
 * message as is, and each has a stable `code` an application can branch on.
 */
export class InvalidImageError extends UserError {
  readonly code = 'invalid_image';
  override name = 'InvalidImageError';
}

/** An image over the pixel limit, refused from its header before any pixel is decoded. */
export class ImageTooLargeError extends UserError {
  readonly code = 'image_too_large';
  override name = 'ImageTooLargeError';
}

/** An option the function does not know, or a value out of its range. */
export class InvalidOptionError extends UserError {
  readonly code = 'invalid_option';
  override name = 'InvalidOptionError';
}

/** A predictor used after dispose(): predictions already running when it was called still finish. */
export class PredictorDisposedError extends UserError {
  readonly code = 'predictor_disposed';
  override name = 'PredictorDisposedError';
}

/**
 * tfjs runs one engine per process (per page in a browser): a predictor asking for another one than the
 * live predictors run on is refused rather than switching the engine under them.
 */
export class EngineInUseError extends UserError {
  readonly code = 'engine_in_use';
  override name = 'EngineInUseError';
}

/**
 * A long run (training) stopped by its AbortSignal (Ctrl-C in the CLI); exit code 130 like a shell's
 * interrupted command. An already-aborted signal stops it before any work.
 */
export class StoppedError extends UserError {
  readonly code = 'stopped';
  override name = 'StoppedError';
  constructor(message: string) {
    super(message, 130);
  }
}
