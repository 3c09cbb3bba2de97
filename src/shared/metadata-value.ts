/**
 * What gRPC metadata can carry of an HTTP header value: printable ASCII. grpc-js drops a value with
 * any other character (a tab, obs-text) and logs it; each such character becomes '?', which no
 * bearer token or request id has either, so that a value refused over HTTP is refused over gRPC
 * alike, rather than lost on the way.
 */
export const asMetadataValue = (value: string): string => value.replace(/[^\x20-\x7e]/g, '?');
