// Lanczos-3 resampling of RGB pixels in plain TypeScript: the browser entry's stand-in for sharp's
// resize (sharp's default kernel, and the one preprocess.json names). The canvas's own scaler differs
// enough to move an ambiguous face by several years, so the page resamples like the server instead.

function lanczos3(x: number): number {
  if (x === 0) return 1;
  if (x <= -3 || x >= 3) return 0;
  const px = Math.PI * x;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

interface Taps {
  first: number;
  weights: Float32Array;
}

/** For each output index: the first input index and the normalised weights (widened when shrinking). */
function taps(inSize: number, outSize: number): Taps[] {
  const scale = inSize / outSize;
  const stretch = Math.max(1, scale);
  const out: Taps[] = [];
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale - 0.5;
    const first = Math.floor(centre - 3 * stretch) + 1;
    const last = Math.ceil(centre + 3 * stretch) - 1;
    const weights = new Float32Array(last - first + 1);
    let total = 0;
    for (let i = first; i <= last; i++) {
      const w = lanczos3((i - centre) / stretch);
      weights[i - first] = w;
      total += w;
    }
    for (let k = 0; k < weights.length; k++) weights[k]! /= total;
    out.push({ first, weights });
  }
  return out;
}

/** Separable Lanczos-3 resize of HWC RGB (inW x inH) to outW x outH; edges are clamped. */
export function lanczosResize(
  rgb: Uint8Array,
  inW: number,
  inH: number,
  outW: number,
  outH: number,
): Uint8Array {
  const tx = taps(inW, outW);
  const ty = taps(inH, outH);
  const clamp = (i: number, n: number) => Math.min(n - 1, Math.max(0, i));
  const rows = new Float32Array(inH * outW * 3); // horizontal pass: inH rows x outW columns
  for (let y = 0; y < inH; y++) {
    for (let x = 0; x < outW; x++) {
      const { first, weights } = tx[x]!;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < weights.length; k++) {
        const src = (y * inW + clamp(first + k, inW)) * 3;
        const w = weights[k]!;
        r += w * rgb[src]!;
        g += w * rgb[src + 1]!;
        b += w * rgb[src + 2]!;
      }
      const dst = (y * outW + x) * 3;
      rows[dst] = r;
      rows[dst + 1] = g;
      rows[dst + 2] = b;
    }
  }
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    const { first, weights } = ty[y]!;
    for (let x = 0; x < outW; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < weights.length; k++) {
        const src = (clamp(first + k, inH) * outW + x) * 3;
        const w = weights[k]!;
        r += w * rows[src]!;
        g += w * rows[src + 1]!;
        b += w * rows[src + 2]!;
      }
      const dst = (y * outW + x) * 3;
      out[dst] = clampByte(r);
      out[dst + 1] = clampByte(g);
      out[dst + 2] = clampByte(b);
    }
  }
  return out;
}

function clampByte(v: number): number {
  return Math.min(255, Math.max(0, Math.round(v)));
}
