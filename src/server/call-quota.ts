/**
 * What a gRPC call counts against its caller's quota past its admission (QuotaCharges,
 * src/auth/access-control.ts). The access interceptor admits a call from its headers, before its
 * request is read, as one call; it leaves the charges with the metadata the handlers see, and a
 * tile stream counts each image after its first (tile-stream.ts). A RecognizeLines call counts as
 * one, whatever its line images (src/auth/quota.ts).
 */
import type { Metadata } from '@grpc/grpc-js';
import type { QuotaCharges } from '../auth/access-control.js';

const charges = new WeakMap<Metadata, QuotaCharges>();

export function keepQuotaCharges(metadata: Metadata, kept: QuotaCharges): void {
  charges.set(metadata, kept);
}

/** The charges kept with a call's metadata; none where no quota applies to it. */
export function quotaChargesOf(metadata: Metadata): QuotaCharges | undefined {
  return charges.get(metadata);
}
