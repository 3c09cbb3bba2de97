/**
 * The SDK sends no call whose metadata is over what the servers take (src/shared/metadata-limit.ts):
 * a token, an authorization or a request id of 100 KiB would otherwise fail the connection, every
 * other call the client has on it included, not this call alone. Such a call fails here, unsent,
 * INVALID_ARGUMENT as the server answers a call over its limit.
 */
import { InterceptingCall, Metadata, status, type Interceptor } from '@grpc/grpc-js';
import { headerListBytes, kib, MAX_METADATA_BYTES } from '../shared/metadata-limit.js';
import { endUnsent } from './unsent-call.js';

/** Room left for the headers grpc-js adds to the caller's metadata: the path, the authority, the timeout and the like. */
const GRPC_HEADERS_BYTES = 1024;

/** The most metadata a call of the SDK sends. */
export const MAX_CALL_METADATA_BYTES = MAX_METADATA_BYTES - GRPC_HEADERS_BYTES;

/** What a caller whose call's metadata is `bytes` is told. */
export function callMetadataTooLarge(bytes: number): string {
  return (
    `the call's metadata is ${kib(bytes)}, over the ${kib(MAX_CALL_METADATA_BYTES)} the servers take ` +
    '(larger headers would fail the connection, and every call on it): send a shorter token, authorization or requestId ' +
    '(this call was not sent)'
  );
}

/** The size of `metadata` as the server counts it, its binary values in the base64 they travel in. */
function metadataBytes(metadata: Metadata): number {
  const namesAndValues: string[] = [];
  for (const [name, values] of Object.entries(metadata.toHttp2Headers())) {
    for (const value of [values].flat()) namesAndValues.push(name, String(value));
  }
  return headerListBytes(namesAndValues);
}

/** Fails, unsent, a call whose metadata is over MAX_CALL_METADATA_BYTES; the last of a client's interceptors, so it sees what they add. */
export function metadataLimitInterceptor(): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        const bytes = metadataBytes(metadata);
        if (bytes <= MAX_CALL_METADATA_BYTES) next(metadata, listener);
        else endUnsent(listener, { code: status.INVALID_ARGUMENT, details: callMetadataTooLarge(bytes), metadata: new Metadata() });
      },
    });
}
