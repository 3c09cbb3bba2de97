/**
 * What the gRPC handlers share (ServiceContext, ServiceLimits), and what they read from a call's
 * metadata: its request id, deadline and priority.
 */
import type { Metadata, ServerDuplexStream, ServerUnaryCall } from '@grpc/grpc-js';
import type { CallPriority, OcrEngine } from '../engine/index.js';
import { invalidArgument } from '../shared/errors.js';
import { REQUEST_ID_KEY, requestIdOf } from '../shared/request-id.js';
import { shown } from '../shared/shown.js';
import type { Logger } from './logger.js';
import type { ServerMetrics } from './metrics.js';

export const PRIORITY_METADATA = 'ocr-priority';

/** What every handler needs: the engine, who we are, our limits, logs and metrics. */
export interface ServiceContext {
  engine: OcrEngine;
  instanceId: string;
  serverVersion: string;
  logger: Logger;
  metrics: ServerMetrics;
  limits: ServiceLimits;
}

export interface ServiceLimits {
  maxMessageBytes: number;
  maxLinesPerRequest: number;
  maxTilesPerImage: number;
  /** Largest full image a tile stream may declare. */
  maxTiledPixels: number;
  /** Tiles of one stream read at the same time; the rest wait in order. */
  tileConcurrency: number;
  /** Images a tile stream may have open (declared, final message not yet sent) at once. */
  maxImagesPerStream: number;
  /** RecognizeTiles streams one connection may have open at once. */
  maxTileStreamsPerConnection: number;
  /**
   * How long a tile stream may go without a message while the server has nothing of it left to do,
   * and how long one of its tiles may wait for memory.
   */
  maxTileStreamIdleMs: number;
  /**
   * Fraction of the instance's memory budget one tile stream's canvases and waiting tiles may hold
   * before the server stops reading the stream.
   */
  tileStreamMemoryShare: number;
  /** How long a refusal for load, over a quota or of who calls is held before it is answered (refusal-pace.ts); 0: at once. */
  refusalPaceMs: number;
  /** How long a Recognize or RecognizeLines request may go without a byte while it is read (upload-idle.ts). */
  maxUploadIdleMs: number;
  /**
   * Fraction of the instance's memory budget the Recognize and RecognizeLines requests being read may
   * hold together before the server reads only the oldest of them (upload-gate.ts).
   */
  uploadMemoryShare: number;
}

export function requestId(metadata: Metadata): string {
  return requestIdOf(metadata.get(REQUEST_ID_KEY)[0]);
}

/** The call's deadline in Date.now() milliseconds, or undefined when the caller set none. */
export function callDeadline(call: ServerUnaryCall<unknown, unknown> | ServerDuplexStream<unknown, unknown>): number | undefined {
  return deadlineMs(call.getDeadline());
}

/** A grpc-js deadline in Date.now() milliseconds, or undefined for none (Infinity). */
export function deadlineMs(deadline: Date | number): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

/** `ocr-priority` metadata: interactive (the default) or batch; null for any other value. */
export function priorityOf(metadata: Metadata): CallPriority | null {
  return priorityNamed(metadata.get(PRIORITY_METADATA)[0]);
}

/** A priority as `ocr-priority` names it (undefined: none given, interactive); null for any other value. */
export function priorityNamed(given: unknown): CallPriority | null {
  return given === undefined || given === 'interactive' ? 'interactive' : given === 'batch' ? 'batch' : null;
}

/** `ocr-priority` metadata, INVALID_ARGUMENT for a value that is neither interactive nor batch. */
export function callPriority(metadata: Metadata): CallPriority {
  const priority = priorityOf(metadata);
  if (priority) return priority;
  throw invalidArgument(
    `metadata ${PRIORITY_METADATA} is ${shown(String(metadata.get(PRIORITY_METADATA)[0]))}; send 'interactive' or 'batch'`,
  );
}
