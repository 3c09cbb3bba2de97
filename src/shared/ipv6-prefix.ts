/**
 * IPv6 address text read as its eight 16-bit words, for what a per-client limit keys a caller by
 * (client-address.ts): the IPv4 address inside an IPv4-mapped or NAT64 one, and the first bits of any other
 * as canonical prefix text (RFC 5952 for the address, RFC 4007 for its zone: `fe80::%eth0/64`).
 * A host usually holds a whole /64 (SLAAC, privacy addresses), so keyed by its full address one
 * caller could multiply every per-client limit by 2^64.
 */
import { isIPv6 } from 'node:net';

export const IPV6_BITS = 128;

const WORD_BITS = 16;
const WORDS = IPV6_BITS / WORD_BITS;

/** An IPv6 address as words, and the zone it named (`%eth0`), if any. */
interface Ipv6 {
  words: number[];
  zone: string;
}

/** The two words of a dotted IPv4 tail (`::ffff:1.2.3.4`, `::1.2.3.4`). */
function ipv4Words(dotted: string): number[] {
  const [a = 0, b = 0, c = 0, d = 0] = dotted.split('.').map(Number);
  return [(a << 8) | b, (c << 8) | d];
}

/** The words of the groups of one side of `::`. */
function groupWords(side: string): number[] {
  if (side === '') return [];
  return side.split(':').flatMap((group) => (group.includes('.') ? ipv4Words(group) : [parseInt(group, 16)]));
}

/** `address` as words and zone; undefined where it is no IPv6 address (IPv4, `unknown`). */
function parseIpv6(address: string): Ipv6 | undefined {
  if (!isIPv6(address)) return undefined;
  const zoneAt = address.indexOf('%');
  const bare = zoneAt < 0 ? address : address.slice(0, zoneAt);
  const zone = zoneAt < 0 ? '' : address.slice(zoneAt);
  const [head = '', tail] = bare.split('::');
  const left = groupWords(head);
  if (tail === undefined) return { words: left, zone };
  const right = groupWords(tail);
  return { words: [...left, ...new Array<number>(WORDS - left.length - right.length).fill(0), ...right], zone };
}

/**
 * The first six words of the /96 prefixes whose addresses stand for an IPv4 host: IPv4-mapped
 * (`::ffff:10.0.0.7`, an IPv4 caller of a dual-stack socket) and NAT64's well-known prefix
 * (`64:ff9b::10.0.0.7`, RFC 6052: an IPv4 caller translated to reach an IPv6-only server).
 */
const IPV4_CARRIERS = [
  [0, 0, 0, 0, 0, 0xffff],
  [0x64, 0xff9b, 0, 0, 0, 0],
];

/** The IPv4 address an IPv4-mapped or NAT64 well-known-prefix IPv6 address carries (any spelling); undefined for any other text. */
export function carriedIpv4(address: string): string | undefined {
  const words = parseIpv6(address)?.words;
  if (!words || !IPV4_CARRIERS.some((prefix) => prefix.every((word, i) => words[i] === word))) return undefined;
  const [high = 0, low = 0] = words.slice(6);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** `word` with only its bits among the first `bits` of the address kept, it being the address's `index`th. */
function maskWord(word: number, index: number, bits: number): number {
  const kept = Math.min(WORD_BITS, Math.max(0, bits - index * WORD_BITS));
  return kept === 0 ? 0 : word & ((0xffff << (WORD_BITS - kept)) & 0xffff);
}

/**
 * RFC 5952's text of `words`: lower-case hex without leading zeros, the longest run of two or more
 * zero words as `::`; the URL standard serializes an IPv6 host by the same rules.
 */
function canonicalText(words: readonly number[]): string {
  return new URL(`http://[${words.map((word) => word.toString(16)).join(':')}]`).hostname.slice(1, -1);
}

/**
 * The first `bits` (1 to 128) of IPv6 `address` as canonical prefix text (`2001:db8:1:2::/64`,
 * `fe80::%eth0/64`); undefined where `address` is no IPv6 address.
 */
export function ipv6Prefix(address: string, bits: number): string | undefined {
  const parsed = parseIpv6(address);
  if (!parsed) return undefined;
  const masked = parsed.words.map((word, index) => maskWord(word, index, bits));
  return `${canonicalText(masked)}${parsed.zone}/${bits}`;
}
