/** A peer's address as its client knows it: an IPv4-mapped IPv6 address (`::ffff:10.0.0.7`) as its IPv4 one. */
export const clientAddress = (address: string | undefined): string => (address ?? 'unknown').replace(/^::ffff:(?=\d+\.)/, '');

/** A peer as its log lines name it, address and port, as grpc-js's getPeer() names a gRPC caller. */
export const clientPeer = (address: string | undefined, port: number | undefined): string => `${clientAddress(address)}:${port ?? 0}`;
