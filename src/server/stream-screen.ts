/**
 * A check of each new stream's headers before grpc-js sees the stream. grpc-js takes every stream
 * from its HTTP/2 server's 'stream' event, so a stream that a screen answers never reaches it.
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { GrpcHttp2Server } from './http2-servers.js';

/** True where the screen answered the stream itself; `rawHeaders` as Node gives them, [name, value, name, value, …]. */
export type StreamScreen = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]) => boolean;

/** Puts `screen` before grpc-js (and before the screens put earlier) on each new stream of `server`. */
export function screenStreams(server: GrpcHttp2Server, screen: StreamScreen): void {
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = ((event: string | symbol, ...args: unknown[]) =>
    (event === 'stream' && screen(args[0] as ServerHttp2Stream, args[1] as IncomingHttpHeaders, args[3] as string[])) ||
    emit(event, ...args)) as typeof server.emit;
}
