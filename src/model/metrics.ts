import * as tf from '@tensorflow/tfjs';
import { AGE_CLASSES } from './losses.js';
import { round } from '../util/round.js';

/** DEX read-out: the expected age sum_i p_i * i under the softmax of the 101 age logits. Shape [N]. */
export function expectedAge(ageLogits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const ages = tf.range(0, AGE_CLASSES, 1, 'float32');
    return tf.sum(tf.mul(tf.softmax(ageLogits), ages), -1) as tf.Tensor1D;
  });
}

/** Probability of "male" (gender index 1) under the softmax of the 2 gender logits. Shape [N]. */
export function maleProbability(genderLogits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.squeeze(tf.slice(tf.softmax(genderLogits), [0, 1], [-1, 1]), [1]) as tf.Tensor1D);
}

export interface AgeGenderMetrics {
  /** Images scored. */
  n: number;
  /** Mean absolute error of the expected age, in years. */
  mae: number;
  /** Cumulative score at 5 years: share of images whose |predicted - true| <= 5. */
  cs5: number;
  /** Share of images whose gender (male iff P(male) >= 0.5) is right. */
  genderAcc: number;
}

/** Figures of one validation set: as is, and with test-time flip (plain and mirrored answers averaged). */
export interface SetReport extends AgeGenderMetrics {
  name: string;
  flip: AgeGenderMetrics;
}

/** One line per epoch log: each set's flip-averaged MAE and gender accuracy. */
export function summarizeReports(reports: SetReport[]): string {
  return reports
    .map((r) => `${r.name} MAE ${r.flip.mae.toFixed(2)} gender ${(r.flip.genderAcc * 100).toFixed(1)}%`)
    .join(' | ');
}

/** Metrics rounded for reports and metrics.json: MAE to 3 decimals, the rates to 4. */
function roundedMetrics(m: AgeGenderMetrics): AgeGenderMetrics {
  return { n: m.n, mae: round(m.mae, 3), cs5: round(m.cs5, 4), genderAcc: round(m.genderAcc, 4) };
}

/** Age bands of the evaluation table: 0-9, 10-19, ..., 60-69, 70+. */
export const AGE_BANDS = ['0-9', '10-19', '20-29', '30-39', '40-49', '50-59', '60-69', '70+'] as const;
export function ageBand(age: number): (typeof AGE_BANDS)[number] {
  return AGE_BANDS[Math.min(Math.floor(age / 10), AGE_BANDS.length - 1)]!;
}

/** Running sums for the metrics, fed batch by batch (so evaluation memory stays flat). */
export interface BandRow extends AgeGenderMetrics {
  band: (typeof AGE_BANDS)[number] | 'all';
  gender: 'female' | 'male' | 'all';
}

export interface EvalReport extends AgeGenderMetrics {
  /** The seed's joint loss (hard targets), averaged over images. */
  loss: number;
  /** Rows whose image could not be read (missing or corrupt): not scored. */
  skipped: number;
  /** Metrics by age band x true gender (with 'all' rows), when asked for. */
  bands?: BandRow[];
}

export class MetricsAccumulator {
  private n = 0;
  private absErr = 0;
  private within5 = 0;
  private genderRight = 0;

  add(
    predAge: ArrayLike<number>,
    pMale: ArrayLike<number>,
    trueAge: ArrayLike<number>,
    trueGender: ArrayLike<number>,
  ) {
    for (let i = 0; i < predAge.length; i++) {
      const err = Math.abs(predAge[i]! - trueAge[i]!);
      this.n++;
      this.absErr += err;
      if (err <= 5) this.within5++;
      if ((pMale[i]! >= 0.5 ? 1 : 0) === trueGender[i]) this.genderRight++;
    }
  }

  result(): AgeGenderMetrics {
    const n = this.n;
    return {
      n,
      mae: n ? this.absErr / n : NaN,
      cs5: n ? this.within5 / n : NaN,
      genderAcc: n ? this.genderRight / n : NaN,
    };
  }
}

/**
 * Metrics of one set as is and with test-time flip, fed batch by batch: the model runs on a batch whose
 * rows hold each image's plain and mirrored views, and its read-outs (expected age, P(male)) are added.
 */
export class FlipMetricsAccumulator {
  private readonly plain = new MetricsAccumulator();
  private readonly flip = new MetricsAccumulator();

  /**
   * Runs `model` ([age, gender] logits) on `input()`, inside a tidy; image j's plain view is row
   * `plainRow(j)` of that batch, its mirrored view row `flippedRow(j)`.
   */
  addPredictions(
    model: tf.LayersModel,
    input: () => tf.Tensor,
    plainRow: (j: number) => number,
    flippedRow: (j: number) => number,
    trueAge: ArrayLike<number>,
    trueGender: ArrayLike<number>,
  ): void {
    const [age, male] = tf.tidy(() => {
      const [ageLogits, genderLogits] = model.predict(input()) as tf.Tensor2D[];
      return [expectedAge(ageLogits!), maleProbability(genderLogits!)];
    });
    try {
      this.add(age!.dataSync(), male!.dataSync(), plainRow, flippedRow, trueAge, trueGender);
    } finally {
      tf.dispose([age!, male!]);
    }
  }

  private add(
    age: ArrayLike<number>,
    male: ArrayLike<number>,
    plainRow: (j: number) => number,
    flippedRow: (j: number) => number,
    trueAge: ArrayLike<number>,
    trueGender: ArrayLike<number>,
  ): void {
    const images = Array.from({ length: trueAge.length }, (_, j) => j);
    this.plain.add(
      images.map((j) => age[plainRow(j)]!),
      images.map((j) => male[plainRow(j)]!),
      trueAge,
      trueGender,
    );
    this.flip.add(
      images.map((j) => (age[plainRow(j)]! + age[flippedRow(j)]!) / 2),
      images.map((j) => (male[plainRow(j)]! + male[flippedRow(j)]!) / 2),
      trueAge,
      trueGender,
    );
  }

  report(name: string): SetReport {
    return { name, ...roundedMetrics(this.plain.result()), flip: roundedMetrics(this.flip.result()) };
  }
}
