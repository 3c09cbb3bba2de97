import type { ClassifierSpec } from '../runtime/manifest.js';
import { toRecognizerBatch } from '../recognize/recognizer.js';
import { runSingle, type Session } from '../runtime/sessions.js';
import type { RawImage } from '../types.js';

export interface Orientation {
  /** Degrees the line is turned by: one of the manifest's labels (0 or 180). */
  angle: number;
  score: number;
}

/** Tells lines that are upside down from upright ones, so they can be turned before recognition. */
export class Classifier {
  constructor(
    private readonly session: Session,
    private readonly spec: ClassifierSpec,
  ) {}

  get inputHeight(): number {
    return this.spec.inputHeight;
  }

  get inputWidth(): number {
    return this.spec.inputWidth;
  }

  /** Crops must already be inputHeight high and at most inputWidth wide. */
  async classify(crops: readonly RawImage[]): Promise<Orientation[]> {
    if (crops.length === 0) return [];
    const { inputHeight: h, inputWidth: w } = this.spec;
    const input = toRecognizerBatch(crops, w, h, this.spec.channelOrder === 'BGR');
    const out = await runSingle(this.session, input, [crops.length, 3, h, w]);
    const classes = out.dims[1]!;
    return crops.map((_, n) => {
      let best = 0;
      for (let c = 1; c < classes; c++) if (out.data[n * classes + c]! > out.data[n * classes + best]!) best = c;
      return { angle: this.spec.labels[best] ?? 0, score: out.data[n * classes + best]! };
    });
  }
}
