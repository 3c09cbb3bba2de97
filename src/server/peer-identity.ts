/**
 * Who is calling, as mutual TLS says: the subject of the client certificate the connection was
 * verified with. For gRPC handlers and interceptors (grpc-js's auth context) and for HTTP requests
 * (the request's TLS socket). Null on a plaintext connection, and on a TLS one without a verified
 * client certificate (TLS without --tls-client-ca).
 */
import { X509Certificate } from 'node:crypto';
import { TLSSocket, type PeerCertificate } from 'node:tls';

/** What grpc-js (≥ 1.10) calls' getAuthContext() gives: its AuthContext type is not exported. */
interface AuthContext {
  transportSecurityType?: string;
  sslPeerCertificate?: PeerCertificate;
}

export interface PeerIdentity {
  /** The certificate's subject, its attributes in certificate order: "O=Example, CN=alice". The identity. */
  subject: string;
  /** Its common name, when it has one. */
  commonName?: string;
  /** Who issued it, as `subject`. */
  issuer: string;
  /** Hex, as OpenSSL prints it. */
  serialNumber: string;
  /** SHA-256 of the certificate, colon-separated hex. */
  fingerprint256: string;
}

function oneLine(name: string): string {
  return name.split('\n').join(', ');
}

/** The identity in a verified peer certificate; null without one. */
export function certificateIdentity(cert: PeerCertificate | undefined | null): PeerIdentity | null {
  if (!cert?.raw || cert.raw.length === 0) return null;
  const x509 = new X509Certificate(cert.raw);
  const cn = cert.subject?.CN;
  const commonName = Array.isArray(cn) ? cn[0] : cn;
  return {
    subject: oneLine(x509.subject),
    ...(commonName ? { commonName } : {}),
    issuer: oneLine(x509.issuer),
    serialNumber: x509.serialNumber,
    fingerprint256: x509.fingerprint256,
  };
}

/** A gRPC call's peer: from a handler's call object, or an interceptor's. */
export function peerIdentity(call: { getAuthContext(): AuthContext | null }): PeerIdentity | null {
  return certificateIdentity(call.getAuthContext()?.sslPeerCertificate);
}

/** An HTTP request's peer, from its socket (Fastify: `request.raw.socket`). */
export function socketPeerIdentity(socket: unknown): PeerIdentity | null {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return null;
  return certificateIdentity(socket.getPeerCertificate());
}
