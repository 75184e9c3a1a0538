import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isAnnotatableName, isAnnotatedCopy } from '../infer/annotate.js';

/**
 * Where `predict --annotate <path>` writes each annotated copy, decided before any work so that no copy
 * lands on a photo being read: one input and a file name annotate can write -> that file; otherwise a
 * folder of copies named after the inputs.
 */
export function annotatedTargets(files: string[], annotate: string): { dir: string | null; paths: string[] } {
  const dir = files.length > 1 || !isAnnotatableName(annotate) ? annotate : null;
  const used = new Set<string>();
  return { dir, paths: files.map((f) => (dir ? path.join(dir, annotatedName(f, used)) : annotate)) };
}

/** The first input that an annotated copy would overwrite (same file, through links too), or null. */
export async function annotateClash(files: string[], targets: string[]): Promise<string | null> {
  const real = (p: string) => fs.realpath(p).catch(() => path.resolve(p));
  const inputs = new Map<string, string>();
  for (const f of files) inputs.set(await real(f), f);
  for (const t of targets) {
    const hit = inputs.get(await real(t));
    if (hit) return hit;
  }
  return null;
}

/**
 * The first target that exists and is not an annotated copy agegender wrote (a photo of the user's, any
 * other file), or null: such a file is never replaced. A FIFO or device counts as foreign too.
 */
export async function foreignTarget(targets: string[]): Promise<string | null> {
  for (const t of targets) {
    const st = await fs.stat(t).catch(() => null);
    if (st && (!st.isFile() || !(await isAnnotatedCopy(t)))) return t;
  }
  return null;
}

/**
 * Annotated copies keep the input's name (as JPEG unless the input is a format annotate can write);
 * same-named inputs from different folders get -2, -3, ... before the extension.
 */
function annotatedName(file: string, used: Set<string>): string {
  const base = isAnnotatableName(file) ? path.basename(file) : `${path.basename(file)}.jpg`;
  const ext = path.extname(base);
  let name = base;
  for (let n = 2; used.has(name); n++) name = `${base.slice(0, -ext.length)}-${n}${ext}`;
  used.add(name);
  return name;
}
