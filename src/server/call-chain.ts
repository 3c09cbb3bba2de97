/**
 * What lies under a grpc-js server call: its base call, reached through the interceptors'
 * `nextCall`, holds the HTTP/2 stream (`stream`) and the message decoder (`decoder`). Neither is
 * public API, hence looked for rather than assumed; where a version of grpc-js keeps them elsewhere
 * the search finds nothing and its caller does without.
 */
export function findUnderCall<T>(call: object, key: string, is: (value: unknown) => value is T): T | null {
  let current: unknown = call;
  for (let depth = 0; depth < 16 && typeof current === 'object' && current !== null; depth++) {
    const fields = current as Record<string, unknown>;
    if (is(fields[key])) return fields[key];
    current = fields.nextCall;
  }
  return null;
}
