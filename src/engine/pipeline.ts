/**
 * The OCR pipeline, top to bottom: decode → detect and the page's orientation → column- and
 * row-merge and the single-line decision → crop → classify → recognize → reading order. Each stage is a module one hop
 * from here, and every decision between stages is made here. Where a stage runs is not this file's
 * concern: the engine gives `readPage` its stages as tasks on its inference workers, and each worker
 * gives `detectPage` and `readLines` the models it holds.
 */
import { selectLines } from '../shared/reading-order.js';
import { VERTICAL_LINE_ASPECT } from '../shared/row-box.js';
import { mergeRowNeighbours } from '../shared/row-merge.js';
import type { Orientation } from './classify/classifier.js';
import { rotate180 } from './decode/image-ops.js';
import { mergeColumns } from './detect/column-merge.js';
import type { DetectOptions } from './detect/detector.js';
import { quadSize, wholeImageQuad } from './detect/geometry.js';
import { isLineImage } from './detect/line-image.js';
import {
  addRotation,
  isSideways,
  isUpsideDown,
  lineDirection,
  quadToImage,
  readsBetterTurned,
  turnedSize,
  undoRotation,
  turnIsClear,
  votesSettled,
  type LineReadBothWays,
  type LineVote,
  type Rotation,
} from './detect/orientation.js';
import { cropQuad, thickenQuad } from './recognize/crop.js';
import type { DecodedText } from './recognize/ctc.js';
import type { DetectedBox, OcrResult, Point, Quad, RawImage } from './types.js';

/** A stage's answer, the time it ran and the time it waited for a worker. */
export interface Timed<T> {
  value: T;
  elapsedMs: number;
  waitMs: number;
}

/** What readLines answers for each quad. */
export interface LineRead {
  text: string;
  confidence: number;
  /** 180 when the line was read turned: the classifier found it upside down and it reads clearly surer so. */
  angle: number;
}

export interface LinesRead {
  lines: LineRead[];
  waitMs: number;
  classifyMs: number;
  recognizeMs: number;
}

/** What detectPage finds: the page's boxes and how it is turned. */
export interface PageLayout {
  /** Boxes on the upright page: in its pixels, corners from the text's top-left. */
  boxes: DetectedBox[];
  /** How far the page is turned (clockwise) in the image. */
  rotation: Rotation;
  /** Of the stage's time, what telling upright from upside down took: the classifier's votes and the recognizer's check of a turn. */
  classifyMs: number;
}

/** The stages of one page as the engine runs them; `Image` is its handle on the decoded pixels. */
export interface PageStages<Image> {
  decode(): Promise<{ image: Image; width: number; height: number; decodeMs: number }>;
  /** detectPage, in a worker. */
  detect(image: Image, options: DetectOptions, autoRotate: boolean): Promise<Timed<PageLayout>>;
  /** crop → classify → recognize of each quad (readLines below, in the workers). */
  readLines(image: Image, quads: Quad[], wholeLines: boolean): Promise<LinesRead>;
}

export interface PageSettings {
  detect: DetectOptions;
  /** Find how the page is turned (0, 90, 180 or 270°) and read it upright. */
  autoRotate: boolean;
  /** Boxes in one row closer than this many line heights are read as one line (0: never). */
  rowMergeGap: number;
  /** Lines read with lower confidence are left out. */
  minConfidence: number;
}

/**
 * A joined column read with less confidence than this is read again as its pieces. Vertical text
 * reads surer than that; the quantities of a table joined into a column read as noise.
 */
const COLUMN_MIN_CONFIDENCE = 0.8;

export async function readPage<Image>(stages: PageStages<Image>, settings: PageSettings): Promise<OcrResult> {
  const started = performance.now();
  const { image, width, height, decodeMs } = await stages.decode();
  const detected = await stages.detect(image, settings.detect, settings.autoRotate);
  const { boxes, rotation } = detected.value;
  // From here on the page is upright: its boxes are in its own pixels, and each is read from the
  // image as it stands through quadToImage, so no turned copy of the image is needed.
  const page = turnedSize(width, height, rotation);
  // Characters of a vertical line, and words of one line across, that the detector found apart are
  // read as one line, with the context between them.
  const { quads: joined, columns } = mergeColumns(boxes.map((b) => b.quad));
  const rows = mergeRowNeighbours(joined, settings.rowMergeGap);
  // An image that is itself one line is read whole, padded as the recognizer was trained. A vertical
  // one (or one that stood sideways) is read as a detected line, unpadded: padded, a short column
  // read turned gains a character that is not there.
  const wholeLine = isLineImage(page.width, page.height, rows);
  const quads = wholeLine ? [wholeImageQuad(page.width, page.height)] : rows;
  const turnedLine = rotation % 180 !== 0 || page.height >= VERTICAL_LINE_ASPECT * page.width;
  const inPage = (q: Quad): Quad => quadToImage(q, rotation, width, height);
  const read = await stages.readLines(image, quads.map(inPage), wholeLine && !turnedLine);
  let lines = quads.map((box, i) => ({ box, text: read.lines[i]!.text, confidence: read.lines[i]!.confidence }));
  // A column read with little confidence is more likely a table's cells one above the other (a
  // column of quantities) than vertical text: its pieces are read again one by one, and kept instead.
  const doubtful = columns.filter((c) => lines.some((l) => l.box === c.quad && l.confidence < COLUMN_MIN_CONFIDENCE));
  const pieces = doubtful.flatMap((c) => c.pieces);
  const reread = pieces.length > 0 ? await stages.readLines(image, pieces.map(inPage), false) : null;
  if (reread) {
    const dropped = new Set(doubtful.map((c) => c.quad));
    lines = [
      ...lines.filter((l) => !dropped.has(l.box)),
      ...pieces.map((box, i) => ({ box, text: reread.lines[i]!.text, confidence: reread.lines[i]!.confidence })),
    ];
  }
  // Within the image: a whole image's quad, turned pixel for pixel, reaches a pixel past its edge.
  const inImage = ([x, y]: Point): Point => [Math.min(Math.max(x, 0), width), Math.min(Math.max(y, 0), height)];
  return {
    width,
    height,
    rotation,
    // In the upright page's reading order, boxes in the image's pixels.
    lines: orderLines(lines, settings.minConfidence).map((l) => ({
      ...l,
      box: quadToImage(l.box, rotation, width, height).map(inImage) as Quad,
    })),
    timings: {
      queueMs: detected.waitMs + read.waitMs + (reread?.waitMs ?? 0),
      decodeMs,
      detectMs: detected.elapsedMs - detected.value.classifyMs,
      classifyMs: detected.value.classifyMs + read.classifyMs + (reread?.classifyMs ?? 0),
      recognizeMs: read.recognizeMs + (reread?.recognizeMs ?? 0),
      totalMs: performance.now() - started,
    },
  };
}

/** The models an inference worker holds for finding a page's lines. */
export interface PageModels extends LineModels {
  /** Boxes of the image turned by `turn` (clockwise), in its pixels (Detector.detect). */
  detect(image: RawImage, options: DetectOptions, turn: Rotation): Promise<DetectedBox[]>;
}

/** Lines the classifier looks at before it may stop: enough when they all agree and are sure. */
const FIRST_VOTES = 3;
/** Lines it looks at at most, when the first ones disagree or are unsure. */
const MOST_VOTES = 12;

/**
 * detect → the page's orientation, in a worker. Sideways pages (isSideways) are detected again
 * turned a quarter, since the detector finds text running down a page less well than across it;
 * then the line classifier votes on a few lines whether the page is upside down (isUpsideDown), and
 * one found so, when the votes are unanimous on tall lines (turnIsClear) or the recognizer reads
 * those lines clearly better turned (readsBetterTurned), is detected again turned upright. Upright
 * pages pay one classifier pass over FIRST_VOTES lines; turned ones a second detection, or a third
 * for 270°, and those of small print the reading of the voted lines both ways.
 */
export async function detectPage(models: PageModels, image: RawImage, options: DetectOptions, autoRotate: boolean): Promise<PageLayout> {
  const first = await models.detect(image, options, 0);
  if (!autoRotate) return { boxes: first, rotation: 0, classifyMs: 0 };
  let boxes = first;
  let rotation: Rotation = 0;
  if (isSideways(first.map((b) => b.quad))) {
    // Turned counter-clockwise, a page turned 90° stands upright, one turned 270° upside down.
    const turned = await models.detect(image, options, 270);
    // A page that looks sideways both ways is not turned (nothing reads better either way).
    if (!isSideways(turned.map((b) => b.quad))) {
      boxes = turned;
      rotation = 90;
    }
  }
  // Without a classifier a sideways page is taken as turned 90°, upside-down ones are not found.
  const { classifier } = models;
  if (!classifier) return { boxes, rotation, classifyMs: 0 };
  const started = performance.now();
  const { votes, quads } = await voteOnLines(classifier, image, boxes, rotation);
  // The classifier is sure of lines too small to read (a page scaled to 300 px wide): a turn it asks
  // for is made on its word alone only when unanimous on tall lines, else only when the recognizer
  // reads those lines clearly better turned (checking every page cost 190 ms an upside-down page).
  const heights = quads.map((q) => quadSize(q).height);
  const upsideDown =
    isUpsideDown(votes) && (turnIsClear(votes, heights, FIRST_VOTES) || readsBetterTurned(await readBothWays(models, image, quads)));
  const classifyMs = performance.now() - started;
  if (!upsideDown) return { boxes, rotation, classifyMs };
  // Detected again turned upright rather than its boxes turned: the detector finds a little more or
  // less on a page upside down, and a page should read the same whichever way up it came.
  const turned = addRotation(rotation, 180);
  return { boxes: await models.detect(image, options, undoRotation(turned)), rotation: turned, classifyMs };
}

/**
 * The classifier's votes on the page's longest lines (those plainly running across it), as they
 * read with the page turned by `rotation`: FIRST_VOTES of them, and up to MOST_VOTES when those
 * do not settle it.
 */
async function voteOnLines(
  classifier: NonNullable<LineModels['classifier']>,
  image: RawImage,
  boxes: readonly DetectedBox[],
  rotation: Rotation,
): Promise<{ votes: LineVote[]; quads: Quad[] }> {
  const lines = boxes
    .map((b) => ({ quad: b.quad, line: lineDirection(b.quad) }))
    .filter(({ line }) => line?.direction === 'across')
    .sort((a, b) => b.line!.length - a.line!.length)
    .slice(0, MOST_VOTES)
    .map(({ quad }) => quadToImage(quad, rotation, image.width, image.height));
  const crop = (quad: Quad): RawImage => cropQuad(image, quad, classifier.inputHeight, classifier.inputWidth);
  const votes = await classifier.classify(lines.slice(0, FIRST_VOTES).map(crop));
  if (lines.length <= FIRST_VOTES || votesSettled(votes, FIRST_VOTES)) return { votes, quads: lines.slice(0, votes.length) };
  return { votes: votes.concat(await classifier.classify(lines.slice(FIRST_VOTES).map(crop))), quads: lines };
}

/**
 * Each of `quads` read by the recognizer as it stands and upside down: the check of a turn the
 * classifier's votes ask for (readsBetterTurned).
 */
async function readBothWays(models: LineModels, image: RawImage, quads: readonly Quad[]): Promise<LineReadBothWays[]> {
  const options = { useAngleCls: false, wholeLines: false };
  const asIs = await readLines(models, image, quads, options);
  const turned = await readLines(models, image, quads.map(turnQuad), options);
  return quads.map((quad, i) => {
    const { width, height } = quadSize(quad);
    return { asIs: asIs.lines[i]!.confidence, turned: turned.lines[i]!.confidence, area: width * height };
  });
}

/** The same quad read upside down: its corners taken from the opposite one. */
const turnQuad = ([a, b, c, d]: Quad): Quad => [c, d, a, b];

/** The last stage: empty and unsure readings dropped, the rest in reading order. */
export function orderLines<T extends { box: Quad; text: string; confidence: number }>(lines: readonly T[], minConfidence: number): T[] {
  return selectLines(lines, minConfidence);
}

/** The models an inference worker holds for reading lines. */
export interface LineModels {
  recognizer: {
    readonly inputHeight: number;
    readonly maxWidth: number;
    recognizeBatch(crops: RawImage[], wholeLines: boolean): Promise<DecodedText[]>;
  };
  classifier: {
    readonly inputHeight: number;
    readonly inputWidth: number;
    /** A line is turned when the classifier says 180° with at least this score. */
    readonly threshold: number;
    classify(crops: readonly RawImage[]): Promise<Orientation[]>;
  } | null;
  /** Lines per model pass. */
  batchSize: number;
}

export interface LineReadOptions {
  useAngleCls: boolean;
  /** The quads are whole line images: pad them as the recognizer was trained. */
  wholeLines: boolean;
}

/**
 * Detected lines are read from a crop this much thicker than the detector's box (5 % of its height
 * above and below): on the real-world set's low-resolution receipts the recognizer confuses fewer
 * thin glyphs (l and 1, e and c) with the margin (docs/BENCHMARKS.md, "Orientation, vertical text and
 * small print").
 */
const CROP_THICKENING = 1.1;

/** crop → classify → recognize, for the quads of one worker task. */
export async function readLines(
  models: LineModels,
  image: RawImage,
  quads: readonly Quad[],
  options: LineReadOptions,
): Promise<Omit<LinesRead, 'waitMs'>> {
  const { recognizer, classifier, batchSize } = models;
  // A detected line is cropped with a little more above and below it than the detector's box.
  const regions = options.wholeLines ? quads : quads.map((q) => thickenQuad(q, CROP_THICKENING));
  const crops = regions.map((quad) => cropQuad(image, quad, recognizer.inputHeight, recognizer.maxWidth));
  const flagged: number[] = [];
  let classifyMs = 0;
  if (options.useAngleCls && classifier) {
    const started = performance.now();
    // The classifier sees the detector's own box: with the margin it turned good lines (eval-dev 99.67 → 99.44 %).
    const small = quads.map((quad) => cropQuad(image, quad, classifier.inputHeight, classifier.inputWidth));
    for (const batch of chunks(
      small.map((_, i) => i),
      batchSize,
    )) {
      const found = await classifier.classify(batch.map((i) => small[i]!));
      found.forEach((o, k) => {
        if (o.angle === 180 && o.score >= classifier.threshold) flagged.push(batch[k]!);
      });
    }
    classifyMs = performance.now() - started;
  }
  const started = performance.now();
  const read = (images: RawImage[]): Promise<DecodedText[]> => recognizeCrops(recognizer, images, batchSize, options.wholeLines);
  const texts = await read(crops);
  const upsideDown = await read(flagged.map((i) => rotate180(crops[i]!)));
  const angles = new Array<number>(crops.length).fill(0);
  // The classifier is sure of lines too small to read: a line it finds upside down is read turned
  // only when the recognizer reads it clearly surer so (for one line, its area weighs nothing).
  flagged.forEach((i, k) => {
    if (readsBetterTurned([{ asIs: texts[i]!.confidence, turned: upsideDown[k]!.confidence, area: 1 }])) {
      texts[i] = upsideDown[k]!;
      angles[i] = 180;
    }
  });
  const lines = texts.map((t, i) => ({ text: t.text, confidence: t.confidence, angle: angles[i]! }));
  return { lines, classifyMs, recognizeMs: performance.now() - started };
}

/** Line images read in batches of similar widths (less padding to compute over), in their order. */
async function recognizeCrops(
  recognizer: LineModels['recognizer'],
  crops: RawImage[],
  batchSize: number,
  wholeLines: boolean,
): Promise<DecodedText[]> {
  const texts = new Array<DecodedText>(crops.length);
  const order = crops.map((_, i) => i).sort((a, b) => crops[a]!.width - crops[b]!.width);
  for (const batch of chunks(order, batchSize)) {
    const read = await recognizer.recognizeBatch(
      batch.map((i) => crops[i]!),
      wholeLines,
    );
    read.forEach((t, k) => (texts[batch[k]!] = t));
  }
  return texts;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
