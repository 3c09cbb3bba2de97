/** A host and port as a URL or a gRPC target writes them: an IPv6 address in brackets ([::1]:8080), where its own colons would run into the port's. */
export const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
