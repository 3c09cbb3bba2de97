/**
 * Why a port could not be bound, in the operator's terms. grpc-js says it as "No address added out
 * of total 1 resolved errors: [listen EADDRINUSE: …]" or "Name resolution failed for target dns:…",
 * Node as "listen EADDRINUSE: …" or "getaddrinfo ENOTFOUND …": the one cause that matters, under
 * their own wording, and no word of which flag to change.
 */

/** The cause named by its errno code, with the flag to change; undefined for a code not known here. */
function listenCause(code: string, host: string, portFlag: string): string | undefined {
  switch (code) {
    case 'EADDRINUSE':
      return `the port is in use; choose another port with ${portFlag}`;
    case 'EADDRNOTAVAIL':
      return `${host} is no address of this machine; check --host`;
    case 'EACCES':
      return `not permitted (ports under 1024 need privileges); choose another port with ${portFlag}`;
    case 'ENOTFOUND':
      return `the name ${host} does not resolve; check --host`;
    default:
      return undefined;
  }
}

/** `ocr serve`'s gRPC port, from the message of grpc-js's bind error. */
export function grpcBindFailure(host: string, port: number, grpcMessage: string): string {
  const code =
    /\b(EADDRINUSE|EADDRNOTAVAIL|EACCES)\b/.exec(grpcMessage)?.[1] ?? (/^Name resolution failed\b/.test(grpcMessage) ? 'ENOTFOUND' : '');
  return `cannot listen on ${host}:${port}: ${listenCause(code, host, '--port') ?? grpcMessage}`;
}

/**
 * A port bound by Node (the gateway's and an instance's HTTP, `--metrics-port`), from its listen
 * error: `what` it was to serve and the flag that chooses the port.
 */
export function httpListenFailure(
  host: string,
  port: number,
  err: unknown,
  { what = 'HTTP', portFlag = '--http-port' }: { what?: string; portFlag?: string } = {},
): string {
  const code = (err as Partial<NodeJS.ErrnoException> | undefined)?.code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  return `cannot serve ${what} on ${host}:${port}: ${listenCause(code, host, portFlag) ?? message}`;
}
