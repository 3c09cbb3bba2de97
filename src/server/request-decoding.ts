/**
 * Requests whose bytes are not their method's protobuf message (a client built from another proto,
 * a ghz config with the wrong call, bytes sent by hand). grpc-js answers a deserializer's throw
 * with INTERNAL "Error deserializing request", before any handler: a caller's mistake read as a
 * server fault, with nothing said of what to fix, and neither counted nor logged. Decoded here, such
 * a request reaches the handler as an UndecodableRequest, which it answers INVALID_ARGUMENT.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { invalidArgument } from '../shared/errors.js';

/** What a request of `path` decoded to when it did not decode: the decoder's reason. */
class UndecodableRequest {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {}
}

/** `service` with request decoders that never throw (the handlers then read each request through decoded or decodedEach). */
export function tolerantDecoding<S extends ServiceDefinition>(service: S): S {
  const methods = Object.entries(service).map(([name, method]) => {
    const decode = method.requestDeserialize;
    const tolerant = (bytes: Buffer): unknown => {
      try {
        return decode(bytes);
      } catch (err) {
        return new UndecodableRequest(method.path, err instanceof Error ? err.message : String(err));
      }
    };
    return [name, { ...method, requestDeserialize: tolerant }];
  });
  return Object.fromEntries(methods) as S;
}

/** The request, or INVALID_ARGUMENT saying that it is not its method's message and what to send. */
export function decoded<Req>(request: Req): Req {
  if (!(request instanceof UndecodableRequest)) return request;
  throw invalidArgument(
    `the request to ${request.path} is not that method's protobuf message (${request.reason}): ` +
      'encode it from proto/ocr/v1/ocr.proto, as the server describes it over reflection (grpcurl describe)',
  );
}

/** `messages`, each through decoded: an undecodable one throws its INVALID_ARGUMENT to the reader. */
export async function* decodedEach<T>(messages: AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
  for await (const message of messages) yield decoded(message);
}
