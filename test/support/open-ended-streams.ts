/** Health watches and reflection streams opened by hand over HTTP/2: the calls src/server/open-ended-calls.ts bounds. */
import { once } from 'node:events';
import type http2 from 'node:http2';

export const WATCH = '/grpc.health.v1.Health/Watch';
export const REFLECTION = '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo';

export interface Opened {
  stream: http2.ClientHttp2Stream;
  /** grpc-status of a trailers-only answer (a refusal); undefined for a stream the server keeps open. */
  refusal?: string;
  message?: string;
}

/** A call of `path` with an empty request; resolves once its headers come: kept open, or refused. */
export async function open(session: http2.ClientHttp2Session, path: string): Promise<Opened> {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  // Watch: an empty HealthCheckRequest (the server as a whole). Reflection: list_services, its
  // stream then left open for more questions.
  stream.write(path === REFLECTION ? Buffer.from([0, 0, 0, 0, 3, 0x3a, 1, 0x2a]) : Buffer.alloc(5));
  if (path !== REFLECTION) stream.end();
  const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  const code = headers['grpc-status'];
  return code === undefined ? { stream } : { stream, refusal: String(code), message: decodeURIComponent(String(headers['grpc-message'])) };
}
