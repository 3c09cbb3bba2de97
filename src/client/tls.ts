/**
 * TLS of a client's channel: whom it trusts, the certificate it shows a server that requires one
 * (mutual TLS), and the name the server's certificate must carry. The resolver (consul://, dns:,
 * ipv4:) only gives addresses; these credentials apply to every connection of the channel.
 */
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { TlsCredentials } from './tls-credentials.js';

export interface ClientTls {
  /** PEM CA certificate(s) that signed the server's certificate; unset: Node's built-in roots. */
  ca?: string | Uint8Array;
  /** PEM client certificate (chain) and its private key, both or neither: for a server started with --tls-client-ca. */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  /**
   * The name checked in the server's certificate (and sent as SNI, unless it is an IP address) in
   * place of the target's host. Needed where the target names no host or address the certificate
   * carries: an IP address it has no IP entry for, or consul://, whose instances are dialled by
   * address and whose default name is the service name.
   */
  serverName?: string;
}

/** Whether `bytes` hold PEM: a "-----BEGIN …" line, which grpc-js needs of a CA, certificate or key. */
export const isPem = (bytes: Buffer): boolean => bytes.includes('-----BEGIN ');

/**
 * `value` as bytes, or a RangeError unless it is PEM: a file's path passed as the text, or DER bytes,
 * would otherwise fail only at the first handshake (a CA not trusted) or as OpenSSL's bare "no start line".
 */
function pem(name: string, value: string | Uint8Array): Buffer {
  const bytes = Buffer.from(value);
  if (isPem(bytes)) return bytes;
  const path = typeof value === 'string' && value.length < 256 && !value.includes('\n');
  const hint = path
    ? `got "${value}": to use a file, pass its contents (await readFile(path))`
    : 'got no "-----BEGIN" line (DER? convert it to PEM)';
  throw new RangeError(`tls.${name} must be PEM text or its bytes; ${hint}`);
}

/** Throws a RangeError for a name no certificate carries; `what` names the setting in the message. */
export function checkServerName(name: string, what = 'tls.serverName'): string {
  if (!/^[A-Za-z0-9*]([A-Za-z0-9.*:-]*[A-Za-z0-9])?$/.test(name))
    throw new RangeError(`${what} must be a host name or address, got "${name}"`);
  return name;
}

/** grpc-js credentials and channel options for `tls` (true: TLS with Node's roots); null for plaintext. */
export function tlsChannel(tls: ClientTls | boolean | undefined): { credentials: ChannelCredentials; options: ChannelOptions } | null {
  if (!tls) return null;
  const t: ClientTls = tls === true ? {} : tls;
  if ((t.cert === undefined) !== (t.key === undefined)) {
    throw new RangeError('tls.cert and tls.key go together: a client certificate needs its private key');
  }
  if (t.serverName !== undefined) checkServerName(t.serverName);
  return {
    credentials: new TlsCredentials(
      t.ca !== undefined ? pem('ca', t.ca) : null,
      t.key !== undefined ? pem('key', t.key) : null,
      t.cert !== undefined ? pem('cert', t.cert) : null,
    ),
    options: t.serverName ? { 'grpc.ssl_target_name_override': t.serverName } : {},
  };
}
