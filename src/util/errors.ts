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

/** Short reason text of any thrown value, for one-line messages. */
export function reason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim();
}
