import sharp from 'sharp';
import type { Face } from '../api/predict.js';
import { reason } from '../util/errors.js';

/** How long a passed check stands for: /healthz polled every second costs one small prediction per 5 s. */
const HEALTH_CHECK_TTL_MS = 5000;

/**
 * The image of the check, always the same Buffer: a plain grey 64 x 64 JPEG, predicted as one crop (no
 * detection), the cheapest real forward pass.
 */
let probeImage: Promise<Buffer> | undefined;
export function healthProbeImage(): Promise<Buffer> {
  probeImage ??= sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
    .jpeg()
    .toBuffer();
  return probeImage;
}

export type HealthResult = { ok: true; checkedAt: number } | { ok: false; checkedAt: number; why: string };

/**
 * Whether the model really answers: a server whose model gives NaN (broken weights) or throws must not
 * say "ok" and then fail every request. One small prediction, run outside the request queue (it takes
 * a few ms to a few tens of ms), shared by concurrent callers and cached for `ttlMs`.
 */
export class HealthCheck {
  private last: HealthResult | undefined;
  private running: Promise<HealthResult> | undefined;

  constructor(
    private readonly predict: (image: Buffer, opts: { detect: boolean }) => Promise<Face[]>,
    private readonly ttlMs = HEALTH_CHECK_TTL_MS,
  ) {}

  async check(): Promise<HealthResult> {
    if (this.last && Date.now() - this.last.checkedAt < this.ttlMs) return this.last;
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<HealthResult> {
    let result: HealthResult;
    try {
      const faces = await this.predict(await healthProbeImage(), { detect: false });
      const face = faces[0];
      if (!face) throw new Error('no answer for a whole-image crop');
      const numbers = [face.age, face.ageSpread, face.pMale, face.pFemale];
      if (!numbers.every(Number.isFinite)) throw new Error("the model's outputs are not numbers (NaN)");
      result = { ok: true, checkedAt: Date.now() };
    } catch (err) {
      result = { ok: false, checkedAt: Date.now(), why: reason(err) };
    }
    this.last = result;
    return result;
  }
}
