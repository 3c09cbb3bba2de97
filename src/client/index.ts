/** The client SDK: everything a caller of the OCR service needs, and nothing of the engine. */

export { OcrClient, MAX_MESSAGE_BYTES, type OcrClientOptions } from './ocr-client.js';
export { type ClientTls } from './tls.js';
export { DEFAULT_KEEPALIVE_TIME_MS, DEFAULT_KEEPALIVE_TIMEOUT_MS } from './keepalive.js';
export { LOAD_BALANCING, type LoadBalancing } from './service-config.js';
export { registerConsulResolver } from './resolver-consul.js';
export {
  DEFAULT_DEADLINE_MS,
  MAX_DEADLINE_MS,
  PRIORITIES,
  PRIORITY_METADATA_KEY,
  type CallSettings,
  type Priority,
} from './call-settings.js';
export {
  CALLER_CANCELLED,
  CLIENT_CLOSED,
  CONNECTION_LOST,
  DEADLINE_NO_INSTANCE,
  DEADLINE_PASSED,
  OcrCallError,
  STREAM_CONNECTION_LOST,
  statusName,
  toOcrCallError,
  type StatusName,
} from './errors.js';
export { TileCall } from './tile-call.js';
export { TOKEN_LATE, type TokenSource } from './token.js';
export { TiledImage } from './tiled-image.js';
export { recognizeLargeImageSpread, type SpreadOptions, type SpreadResult } from './tile-spread.js';
export {
  TileStream,
  recognizeLargeImage,
  type LargeImageCallOptions,
  type LargeImageOptions,
  type LargeImageResult,
} from './tile-stream.js';
export { DEFAULT_TILE_OVERLAP, planTiles } from '../shared/tiling.js';
export { mapLimit } from '../shared/map-limit.js';
export { OcrError, type OcrErrorCode } from '../shared/errors.js';
export type { Rect } from '../shared/quad.js';
export type {
  ErrorDetail,
  ImageLines,
  Limits,
  Line,
  LineResult,
  ModelInfo,
  Point,
  RecognizeLinesResponse,
  RecognizeOptions,
  RecognizeOptionsDefaults,
  RecognizeResponse,
  ServerInfo,
  TileLines,
  TileRequest,
  TileResponse,
  Timings,
} from '../gen/ocr/v1/ocr.js';
