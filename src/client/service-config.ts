/**
 * The gRPC service config a client's channel runs with: grpc-js's own balancing policy over the
 * resolved instances, and transparent retries of the idempotent calls on another instance after a
 * lost one.
 */
import { OCR_SERVICE } from '../shared/service-name.js';

export type LoadBalancing = 'round_robin' | 'pick_first' | 'least_request';

export const LOAD_BALANCING: readonly LoadBalancing[] = ['round_robin', 'pick_first', 'least_request'];

/** Every unary call of ocr.v1.OcrService reads and changes nothing: all may run twice. */
const IDEMPOTENT = ['Recognize', 'RecognizeLines', 'GetServerInfo'];

/**
 * grpc-js retries a call only while its request is still in the retry buffer; images are large,
 * so the buffers are sized for them (the defaults, 256 KiB per call, would exclude most scans).
 */
export const RETRY_BUFFER_OPTIONS = {
  'grpc.per_rpc_retry_buffer_size': 64 * 1024 * 1024,
  'grpc.retry_buffer_size': 256 * 1024 * 1024,
} as const;

export function serviceConfig(loadBalancing: LoadBalancing, maxAttempts: number): string {
  // gRPC's retry policy needs 2 attempts or more: 1 means no policy at all.
  const retryPolicy = {
    maxAttempts,
    initialBackoff: '0.05s',
    maxBackoff: '1s',
    backoffMultiplier: 2,
    // UNAVAILABLE: an instance that died or is draining; the call never ran to completion there.
    // Refusals for overload (RESOURCE_EXHAUSTED) are retried by OcrClient, which keeps to the
    // deadline: grpc-js would wait out a hint longer than the time the call has left.
    retryableStatusCodes: ['UNAVAILABLE'],
  };
  return JSON.stringify({
    loadBalancingConfig: [{ [loadBalancing]: {} }],
    methodConfig: [
      {
        name: IDEMPOTENT.map((method) => ({ service: OCR_SERVICE, method })),
        ...(maxAttempts > 1 ? { retryPolicy } : {}),
      },
    ],
  });
}
