/**
 * The nextUpdate of a CRL, read from its DER: Node's crypto parses certificates (X509Certificate)
 * but no CRL, and past a CRL's nextUpdate OpenSSL refuses every client certificate, so the server
 * checks it at load and warns before it comes (server-tls.ts). Only CRLs the TLS stack has already
 * parsed (createSecureContext) reach this reader.
 */

/** A DER element at `at`: its tag and the bounds of its content. */
function derElement(der: Buffer, at: number): { tag: number; start: number; end: number } {
  const first = der[at + 1]!;
  let length = first;
  let start = at + 2;
  if (first & 0x80) {
    length = 0;
    for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + der[start + i]!;
    start += first & 0x7f;
  }
  if (start + length > der.length) throw new Error('truncated DER');
  return { tag: der[at]!, start, end: start + length };
}

/** The nextUpdate of a DER CRL (RFC 5280, 5.1), null if it has none: Node's crypto reads no CRLs. */
export function crlNextUpdate(der: Buffer): Date | null {
  const tbs = derElement(der, derElement(der, 0).start);
  let at = tbs.start;
  const next = (): { tag: number; start: number; end: number } => {
    const element = derElement(der, at);
    at = element.end;
    return element;
  };
  // version (optional), signature, issuer, thisUpdate, then nextUpdate if a time follows.
  if (next().tag === 0x02) next();
  next();
  next();
  if (at >= tbs.end) return null;
  const time = next();
  if (time.tag !== 0x17 && time.tag !== 0x18) return null;
  const text = der.toString('latin1', time.start, time.end);
  // UTCTime has two-digit years: 50-99 are 19xx (RFC 5280, 4.1.2.5.1).
  const full = time.tag === 0x17 ? `${Number(text.slice(0, 2)) < 50 ? '20' : '19'}${text}` : text;
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(full);
  if (!m) throw new Error(`a CRL's nextUpdate is not a time: ${text}`);
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second));
}
