import { ctcGreedyDecode, type DecodedText } from './ctc.js';
import { BEST_CLASS_OUTPUT, BEST_PROBABILITY_OUTPUT } from '../onnx-graph/greedy-head.js';
import type { RecognizerSpec } from '../runtime/manifest.js';
import { runModel, type Session } from '../runtime/sessions.js';
import type { RawImage } from '../types.js';

/**
 * Pack upright line crops (3 channels, height = the model's input height) into one NCHW batch,
 * normalised to [-1, 1] and right-padded with zeros (the model's neutral grey) to a common width.
 * `into`: a buffer to fill instead of a new one, exactly the batch's size; it may hold old values.
 */
export function toRecognizerBatch(
  crops: readonly RawImage[],
  width: number,
  height: number,
  bgr: boolean,
  into?: Float32Array,
): Float32Array {
  const plane = width * height;
  const size = crops.length * 3 * plane;
  if (into && into.length !== size) throw new Error(`toRecognizerBatch: buffer of ${into.length} values for a batch of ${size}`);
  const out = into ?? new Float32Array(size);
  const order = bgr ? [2, 1, 0] : [0, 1, 2];
  crops.forEach((crop, n) => {
    const w = Math.min(crop.width, width);
    for (let c = 0; c < 3; c++) {
      const src = order[c]!;
      const base = (n * 3 + c) * plane;
      for (let y = 0; y < height; y++) {
        const row = y * crop.width * 3;
        const dst = base + y * width;
        for (let x = 0; x < w; x++) out[dst + x] = crop.data[row + x * 3 + src]! / 127.5 - 1;
        if (into) out.fill(0, dst + w, dst + width);
      }
    }
  });
  return out;
}

export class Recognizer {
  /**
   * The input of the pass in flight, kept for the next: a fresh array per line cost more to fill
   * than refilling one, and garbage collection. Null while a pass runs (its buffer is then in use),
   * so a pass begun meanwhile packs into an array of its own.
   */
  private scratch: Float32Array | null = new Float32Array(0);

  /** `session` runs the recognizer with its greedy head (withGreedyHead). */
  constructor(
    private readonly session: Session,
    private readonly spec: RecognizerSpec,
    private readonly charset: readonly string[],
  ) {
    const outputs = [BEST_CLASS_OUTPUT, BEST_PROBABILITY_OUTPUT];
    if (!outputs.every((o) => session.outputNames.includes(o))) {
      throw new Error(`the recognizer session must be built from withGreedyHead(model): it has outputs ${session.outputNames.join(', ')}`);
    }
  }

  get inputHeight(): number {
    return this.spec.inputHeight;
  }

  /**
   * One forward pass over crops of similar width; the caller chooses the batches. `padToMinWidth`:
   * pad short lines to the width the model was trained at. Measured: it lowers CER on whole line
   * images, changes nothing on detector crops, and costs time in proportion to the padding.
   */
  async recognizeBatch(crops: readonly RawImage[], padToMinWidth: boolean): Promise<DecodedText[]> {
    if (crops.length === 0) return [];
    const height = this.spec.inputHeight;
    const widest = Math.max(...crops.map((c) => c.width));
    const minWidth = padToMinWidth ? this.spec.minWidth : 8;
    const width = Math.min(this.spec.maxWidth, Math.max(minWidth, Math.ceil(widest / 8) * 8));
    const size = crops.length * 3 * height * width;
    const held = this.scratch;
    this.scratch = null;
    const buffer = held === null ? undefined : held.length >= size ? held : new Float32Array(size);
    const input = toRecognizerBatch(crops, width, height, this.spec.channelOrder === 'BGR', buffer?.subarray(0, size));
    let out: Awaited<ReturnType<typeof runModel>>;
    try {
      out = await runModel(this.session, input, [crops.length, 3, height, width]);
    } finally {
      if (held) this.scratch = buffer!;
    }
    const classes = out[BEST_CLASS_OUTPUT]!;
    const best = { classes: classes.data as Int32Array, probabilities: out[BEST_PROBABILITY_OUTPUT]!.data as Float32Array };
    const steps = classes.dims[1]!;
    return crops.map((_, n) => ctcGreedyDecode(best, n * steps, steps, this.charset, this.spec.blankIndex));
  }
}
