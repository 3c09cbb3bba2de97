/**
 * The engine as the rest of the project sees it: the pipeline behind OcrEngine, the admission
 * that guards it, and the data shapes of its answers. Nothing here knows gRPC or HTTP.
 */
export {
  OcrEngine,
  defaultEngineConfig,
  type EngineConfig,
  type EngineInfo,
  type LineOutcome,
  type LineText,
  type RecognizeOptions,
} from './engine.js';
export type { Admission, CallPriority, WorkKind } from './admission/admission.js';
export { defaultMemoryBudget, MemoryBudget, type Reservation } from './admission/memory-budget.js';
export { DEFAULT_DECODE_LIMITS, decodeImage, probeImage, type DecodeLimits, type ImageProbe } from './decode/decode.js';
export { SharpInput } from './decode/sharp-input.js';
export { ONE_LINE_MAX_HEIGHT } from './detect/line-image.js';
export { hasInt8DotProduct } from './runtime/cpu-features.js';
export { runModelKeys } from './runtime/model-cache.js';
export { SharedBufferThread } from './runtime/shared-buffer-thread.js';
export { takeSmallestFitting } from './runtime/shared-image-pool.js';
export {
  zeroTimings,
  type OcrLine,
  type OcrResult,
  type Point,
  type Precision,
  type Quad,
  type RawImage,
  type StageTimings,
} from './types.js';
