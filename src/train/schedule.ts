/**
 * Learning rate at a step: linear warm-up (Adam's moment estimates are noisy in the first steps, and
 * batch-norm statistics settle), then cosine decay to `minFactor * peak` at `total`.
 */
export function learningRateAt(
  step: number,
  total: number,
  peak: number,
  opts: { warmup?: number; minFactor?: number; schedule?: 'cosine' | 'constant' } = {},
): number {
  const warmup = opts.warmup ?? Math.min(500, Math.floor(total * 0.05));
  if (warmup > 0 && step < warmup) return (peak * (step + 1)) / warmup;
  if (opts.schedule === 'constant') return peak;
  const min = peak * (opts.minFactor ?? 0.01);
  const t = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return min + 0.5 * (peak - min) * (1 + Math.cos(Math.PI * t));
}
