/**
 * What the HTTP front door answers with: the local engine on `ocr serve`, the cluster through the
 * SDK on `ocr gateway`. Both speak the gRPC messages, so the JSON API is the same either way.
 */
import type { RecognizeLinesResponse, RecognizeOptions, RecognizeResponse, ServerInfo } from '../gen/ocr/v1/ocr.js';

export type Priority = 'interactive' | 'batch';

/** What an HTTP request carries beyond its images. */
export interface HttpCall {
  /** Fires when the client goes away or the call's timeout passes. */
  signal: AbortSignal;
  /** Date.now() milliseconds by which the answer is useless; unset: the server's own limit. */
  deadline?: number;
  priority: Priority;
  requestId: string;
  /** What the caller called, as refusals name it (`POST /api/ocr`: access.ts, httpCallName). */
  what: string;
  /** The request's `authorization` headers, joined with commas as HTTP joins repeated fields: for a gateway to pass on (cluster-backend.ts). */
  authorization?: string;
}

export interface OcrBackend {
  recognize(image: Uint8Array, options: RecognizeOptions, call: HttpCall): Promise<RecognizeResponse>;
  recognizeLines(images: Uint8Array[], options: RecognizeOptions, call: HttpCall): Promise<RecognizeLinesResponse>;
  serverInfo(call: HttpCall): Promise<ServerInfo>;
  /**
   * False while starting or draining: /readyz answers 503 so that load balancers stop sending. A
   * gateway's may take a moment to find out (cluster-backend.ts).
   */
  ready(): boolean | Promise<boolean>;
  /** True while not yet ready and not draining: an instance's models still load, a gateway has reached no instance yet; absent: never starting. */
  starting?(): boolean;
  /** Prometheus exposition for /metrics. */
  metrics(): Promise<{ contentType: string; text: string }>;
}
