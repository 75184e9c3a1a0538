// sharp's resize with the kernels a preprocess.json may name (lanczos3, the default; cubic; linear) in plain TypeScript:
// the browser entry's stand-in for sharp. The canvas's own scaler differs enough to move an ambiguous
// face by several years, so the page resamples like the server instead. libvips shrinks with the
// Lanczos-3 kernel, centre-aligned and widened by the shrink factor, but enlarges with its bicubic
// (Catmull-Rom) interpolator, sampling input x = o * scale - 0.5, and rounds to bytes between the two
// passes; matched against sharp 0.35 / libvips 8.18 in test/web-lanczos.test.ts (mean difference under
// 0.3 grey levels both ways).

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

/** Catmull-Rom cubic (B = 0, C = 0.5): libvips's "bicubic" interpolator. */
function catmullRom(x: number): number {
  const a = Math.abs(x);
  if (a < 1) return 1.5 * a ** 3 - 2.5 * a ** 2 + 1;
  if (a < 2) return -0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2;
  return 0;
}

/** Triangle: libvips's "linear" kernel, and its bilinear interpolator. */
function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

/** The kernels a bundle's preprocess.json may name (resize.kernel), with their half-widths. */
export type ResizeKernel = 'lanczos3' | 'cubic' | 'linear';
const KERNELS: Record<ResizeKernel, { fn: (x: number) => number; support: number }> = {
  lanczos3: { fn: lanczos3, support: 3 },
  cubic: { fn: catmullRom, support: 2 },
  linear: { fn: triangle, support: 1 },
};

/** For each output index: the first input index and the normalised weights. */
function taps(inSize: number, outSize: number, name: ResizeKernel): Taps[] {
  const scale = inSize / outSize;
  const enlarge = outSize > inSize;
  // Shrinking: the kernel widened by the factor; enlarging: libvips's interpolator (bilinear for 'linear',
  // else bicubic = Catmull-Rom), unwidened.
  const k = enlarge ? (name === 'linear' ? KERNELS.linear : KERNELS.cubic) : KERNELS[name];
  const support = k.support * (enlarge ? 1 : Math.max(1, scale));
  const stretch = enlarge ? 1 : Math.max(1, scale);
  const kernel = k.fn;
  const out: Taps[] = [];
  for (let o = 0; o < outSize; o++) {
    const centre = enlarge ? o * scale - 0.5 : (o + 0.5) * scale - 0.5;
    const first = Math.floor(centre - support) + 1;
    const last = Math.ceil(centre + support) - 1;
    const weights = new Float32Array(last - first + 1);
    let total = 0;
    for (let i = first; i <= last; i++) {
      const w = kernel((i - centre) / stretch);
      weights[i - first] = w;
      total += w;
    }
    for (let k = 0; k < weights.length; k++) weights[k]! /= total;
    out.push({ first, weights });
  }
  return out;
}

/** Separable resize of HWC RGB (inW x inH) to outW x outH, as sharp's with `kernel`; edges are clamped. */
export function lanczosResize(
  rgb: Uint8Array,
  inW: number,
  inH: number,
  outW: number,
  outH: number,
  kernel: ResizeKernel = 'lanczos3',
): Uint8Array {
  const tx = taps(inW, outW, kernel);
  const ty = taps(inH, outH, kernel);
  const clamp = (i: number, n: number) => Math.min(n - 1, Math.max(0, i));
  const rows = new Float32Array(inH * outW * 3); // horizontal pass: inH rows x outW columns
  const roundRows = outW > inW; // libvips's enlargement keeps bytes between the passes
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
      rows[dst] = roundRows ? clampByte(r) : r;
      rows[dst + 1] = roundRows ? clampByte(g) : g;
      rows[dst + 2] = roundRows ? clampByte(b) : b;
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
