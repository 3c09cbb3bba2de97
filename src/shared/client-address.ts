/** A peer's address as its client knows it: an IPv4-mapped IPv6 address (`::ffff:10.0.0.7`) as its IPv4 one. */
export const clientAddress = (address: string | undefined): string => (address ?? 'unknown').replace(/^::ffff:(?=\d+\.)/, '');
