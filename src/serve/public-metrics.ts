/**
 * A bundle's metrics.json as the server shows it: without the local paths training recorded in it (its
 * --model-dir, each set's image folder and CSVs, the feature cache...). They say where files lie on the
 * machine that trained or serves the model, which no client needs and an attacker would like to know.
 *
 * Two rules, so that a field added to training's settings later is covered too:
 * - a key that names a path (`modelDir`, `imgDir`, `trainCsv`, `cacheDir`, `initFrom`, `data`...) is dropped
 *   when its value is a string or a list of strings;
 * - any other string that is a path by its form (absolute: `/x`, `~/x`, `C:\x`, `\\host\x`; or relative
 *   with `./`, `../`) is dropped too.
 * Names (`utk150`), ids (`dlib-resnet/face-api-1.7/conv128_2`) and numbers stay.
 */
const PATH_KEY = /(dir|dirs|csv|path|paths|file|files|from|cache|data|root|checkpoint)$/i;
const PATH_VALUE = /^(\/|~[\\/]|[A-Za-z]:[\\/]|\\\\|\.{1,2}[\\/])/;

function isStrings(v: unknown): boolean {
  return typeof v === 'string' || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string'));
}

export function publicMetrics(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => !isPathString(v)).map(publicMetrics);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (PATH_KEY.test(key) && isStrings(v)) continue;
    if (isPathString(v)) continue;
    out[key] = publicMetrics(v);
  }
  return out;
}

function isPathString(v: unknown): boolean {
  return typeof v === 'string' && PATH_VALUE.test(v);
}
