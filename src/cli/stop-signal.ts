/**
 * Ctrl-C / SIGTERM for a long command: the first signal aborts the returned signal, so the library stops
 * after the current step (a training run saves a checkpoint first); a second one exits at once.
 */
export function stopOnSignals(what: string): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    console.error(`\n${sig}: ${what} (send it again to exit at once)`);
    controller.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
