import { dbPostprocess, type DbParams } from './db-postprocess.js';
import type { DetectorSpec } from '../runtime/manifest.js';
import { runSingle, type Session } from '../runtime/sessions.js';
import type { DetectedBox, Point, Quad, RawImage } from '../types.js';
import { loadSharp } from '../../shared/load-sharp.js';
import { detectorInputSize } from './input-size.js';
import { turnedSize, type Rotation } from './orientation.js';

export interface DetectOptions {
  maxSideLen: number;
  /** Smaller images are scaled up until their shorter side reaches this, so small text is found. */
  minSideLen: number;
  db: DbParams;
}

export interface Detection {
  /** Boxes in the source image's pixel coordinates, clipped to it. */
  boxes: DetectedBox[];
  inputWidth: number;
  inputHeight: number;
  elapsedMs: number;
}

/** HWC 8-bit → CHW float, normalised per channel, in the channel order the model was trained on. */
export function toDetectorTensor(pixels: Uint8Array, width: number, height: number, spec: DetectorSpec): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  const order = spec.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  for (let c = 0; c < 3; c++) {
    const src = order[c]!;
    const scale = 1 / (255 * spec.std[c]!);
    const shift = spec.mean[c]! / spec.std[c]!;
    const base = c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = pixels[i * 3 + src]! * scale - shift;
  }
  return out;
}

/**
 * Sessions of the same model. onnxruntime's arena makes a detector pass faster (it reuses its
 * allocations instead of making them afresh each pass) but keeps the memory of the largest input it
 * has seen; inputs up to `boundedPixels` (the default detection size) use it, larger ones, which a
 * caller can ask for, run without one so that they do not pin their memory.
 *
 * Default-sized inputs run on one thread while other workers are busy, and on several when this
 * worker has the machine to itself: two threads shorten the median document at concurrency 1, but
 * while the other worker also runs, more threads than cores cost throughput at concurrency 4
 * (docs/BENCHMARKS.md, "Engine configurations").
 *
 * The sessions few calls need may still be in the making (a worker makes them after it has said it
 * is ready); a call that needs one waits for it.
 */
export interface DetectorSessions {
  bounded: Session;
  /** The bounded session on several threads, for a worker running alone; absent on one core. */
  boundedParallel?: Session | Promise<Session>;
  unbounded: Session | Promise<Session>;
  boundedPixels: number;
}

export class Detector {
  constructor(
    private readonly sessions: DetectorSessions,
    private readonly spec: DetectorSpec,
  ) {}

  /**
   * `alone`: no other worker is busy, so this pass may use several threads. `turn`: detect on the
   * image turned by this many degrees clockwise (a page found sideways), boxes in the turned image's
   * pixels; it is turned before it is scaled, so the pass sees what it would see of that image.
   */
  async detect(image: RawImage, options: DetectOptions, alone = false, turn: Rotation = 0): Promise<Detection> {
    const started = performance.now();
    const turned = turnedSize(image.width, image.height, turn);
    const size = detectorInputSize(turned.width, turned.height, options, this.spec.sizeMultiple);
    const sharp = await loadSharp();
    const source = sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } });
    const { data } = await (turn === 0 ? source : source.rotate(turn))
      .resize(size.width, size.height, { fit: 'fill' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    const tensor = toDetectorTensor(data, size.width, size.height, this.spec);
    const s = this.sessions;
    const session = size.width * size.height > s.boundedPixels ? s.unbounded : alone && s.boundedParallel ? s.boundedParallel : s.bounded;
    const out = await runSingle(await session, tensor, [1, 3, size.height, size.width]);
    const map = { data: out.data, width: size.width, height: size.height };
    const sx = turned.width / size.width;
    const sy = turned.height / size.height;
    const toImage = ([x, y]: Point): Point => [Math.min(Math.max(x * sx, 0), turned.width), Math.min(Math.max(y * sy, 0), turned.height)];
    const boxes = dbPostprocess(map, options.db).map((box) => ({
      score: box.score,
      quad: box.quad.map(toImage) as Quad,
    }));
    return { boxes, inputWidth: size.width, inputHeight: size.height, elapsedMs: performance.now() - started };
  }
}
