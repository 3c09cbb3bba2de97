/**
 * TLS for both of a server's ports (gRPC and HTTP) from certificate files that may be replaced while
 * it runs (a renewal by certbot, cert-manager, Vault agent): the files are watched, and a new pair
 * that reads, parses, matches its key and is valid now replaces the old one for new connections.
 * Connections already open keep the session they negotiated, so no call in flight is dropped. A bad
 * new pair (half written, key of another certificate, expired) is logged and the old one kept.
 *
 * gRPC: grpc-js's certificate-provider credentials (experimental.createCertificateProviderServerCredentials),
 * fed by this class as its CertificateProvider; grpc-js calls setSecureContext on its HTTP/2 server
 * with each update. HTTP: the same material, handed to https.Server.setSecureContext by the server.
 */
import { readFileSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from './logger.js';

export interface ServerTlsConfig {
  /** PEM certificate (chain: the server's first) and its private key. */
  certFile: string;
  keyFile: string;
  /** PEM CA bundle: set, every client must present a certificate it signed (mutual TLS). */
  clientCaFile?: string;
  /** How often the files are looked at besides file-system events (which some mounts never send). Default 2000. */
  pollMs?: number;
  /** Quiet time after a change before the files are read, so that a cert and key written one after the other are read together. Default 200. */
  settleMs?: number;
}

/** One pair and CA bundle, read and checked. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** The server certificate's serial number (hex, as OpenSSL prints it) and validity, for logs. */
  serialNumber: string;
  subject: string;
  validTo: string;
}

/** What an https.Server (Fastify's `https` option) takes for the same material. */
export interface HttpsOptions {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

const DEFAULTS = { pollMs: 2000, settleMs: 200 };

function oneLine(name: string): string {
  return name.split('\n').join(', ');
}

/**
 * Reads and checks the files; throws an Error naming the file and what is wrong with it. `now`
 * decides validity (tests pass their own).
 */
export function checkTlsMaterial(
  files: { cert: Buffer; key: Buffer; ca?: Buffer },
  config: ServerTlsConfig,
  now = new Date(),
): TlsMaterial {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(files.cert);
  } catch (err) {
    throw new Error(`${config.certFile} holds no PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(files.key))) {
      throw new Error(`the private key in ${config.keyFile} is not the key of the certificate in ${config.certFile}`);
    }
  } catch (err) {
    if ((err as Error).message.startsWith('the private key')) throw err;
    throw new Error(`${config.keyFile} holds no PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (now < new Date(certificate.validFrom)) {
    throw new Error(`the certificate in ${config.certFile} is not valid before ${certificate.validFrom}`);
  }
  if (now > new Date(certificate.validTo)) {
    throw new Error(`the certificate in ${config.certFile} expired on ${certificate.validTo}`);
  }
  if (files.ca !== undefined) {
    try {
      new X509Certificate(files.ca);
    } catch (err) {
      throw new Error(`${config.clientCaFile} holds no PEM CA certificate: ${(err as Error).message}`, { cause: err });
    }
  }
  try {
    // What the TLS stack itself will say of them (a chain it cannot use, for instance).
    createSecureContext({ cert: files.cert, key: files.key, ...(files.ca ? { ca: files.ca } : {}) });
  } catch (err) {
    throw new Error(`${config.certFile} and ${config.keyFile} cannot serve TLS: ${(err as Error).message}`, { cause: err });
  }
  return {
    cert: files.cert,
    key: files.key,
    ...(files.ca ? { ca: files.ca } : {}),
    serialNumber: certificate.serialNumber,
    subject: oneLine(certificate.subject),
    validTo: certificate.validTo,
  };
}

function readNamed(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${flag} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

type Listener = (material: TlsMaterial) => void;

/** Inode, size and modification time: what changes when a file is rewritten or replaced. */
function signatureOf(read: () => Stats | null): string {
  try {
    const s = read();
    return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : 'missing';
  } catch {
    return 'missing';
  }
}

/**
 * The server's certificate files, watched. Also a grpc-js CertificateProvider, for the identity
 * (certificate and key) and, under mutual TLS, the CA that client certificates must chain to.
 */
export class ServerCertificates implements experimental.CertificateProvider {
  private material: TlsMaterial;
  private readonly config: ServerTlsConfig & typeof DEFAULTS;
  private readonly watchers: FSWatcher[] = [];
  private readonly poll: NodeJS.Timeout;
  private settle: NodeJS.Timeout | undefined;
  /** Stat signatures of the files as last read, and of a set of files last refused (not retried until they change). */
  private seen: string;
  private refused: string | null = null;
  private reading: Promise<void> | null = null;
  private closed = false;
  private readonly listeners = new Set<Listener>();
  private readonly identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  private readonly caListeners = new Set<experimental.CaCertificateUpdateListener>();

  /**
   * Reads the files now: a start with files that cannot serve fails at once, naming the file.
   * `logger` may be replaced once the instance's own logger exists.
   */
  constructor(
    config: ServerTlsConfig,
    public logger: Logger,
  ) {
    this.config = { ...DEFAULTS, ...config };
    const files = {
      cert: readNamed(config.certFile, '--tls-cert'),
      key: readNamed(config.keyFile, '--tls-key'),
      ...(config.clientCaFile ? { ca: readNamed(config.clientCaFile, '--tls-client-ca') } : {}),
    };
    this.material = checkTlsMaterial(files, config);
    this.seen = this.paths()
      .map((p) => signatureOf(() => statSync(p)))
      .join('|');
    // Directories, not files: a renewal often writes a new file and renames it over the old one
    // (or swaps a symlink, as Kubernetes does with mounted secrets), which a watch on the file misses.
    for (const dir of new Set(this.paths().map((p) => path.dirname(p)))) {
      try {
        const w = watch(dir, { persistent: false }, () => this.changed());
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch {
        // No events here (some network and overlay mounts): the poll below still sees changes.
      }
    }
    this.poll = setInterval(() => void this.check(), this.config.pollMs);
    this.poll.unref();
  }

  /** The pair served now. */
  get current(): TlsMaterial {
    return this.material;
  }

  get mutual(): boolean {
    return this.config.clientCaFile !== undefined;
  }

  /** Called with each new pair once it is served. */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Credentials for grpc-js's bindAsync that follow the files. */
  grpcCredentials(): ServerCredentials {
    // grpc-js 1.14 names this function's parameters (caCertificateProvider, identityCertificateProvider)
    // but hands them on in that order to a constructor that takes (identity, ca): the first is the
    // identity, the second the CA provider or null (its typings agree: only the second may be null).
    // test/unit/server-tls.test.ts pins what a handshake needs, should a later version swap them.
    return experimental.createCertificateProviderServerCredentials(this, this.mutual ? this : null, this.mutual);
  }

  /** Options of an https.Server serving the same pair; later pairs go to its setSecureContext (see onChange). */
  httpsOptions(): HttpsOptions {
    return {
      cert: this.material.cert,
      key: this.material.key,
      ...(this.material.ca ? { ca: this.material.ca } : {}),
      requestCert: this.mutual,
      rejectUnauthorized: this.mutual,
    };
  }

  /** Looks at the files now (tests; the watch and the poll call it too). Resolves once any change is served or refused. */
  async check(): Promise<void> {
    if (this.closed) return;
    if (this.reading) return this.reading;
    this.reading = this.reload().finally(() => (this.reading = null));
    return this.reading;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    clearTimeout(this.settle);
    for (const w of this.watchers) w.close();
    this.listeners.clear();
  }

  // --- grpc-js CertificateProvider ------------------------------------------------------------

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    // Later, not now: grpc-js adds its own watcher only after this returns, and would miss the update.
    process.nextTick(() => {
      if (this.identityListeners.has(listener)) listener({ certificate: this.material.cert, privateKey: this.material.key });
    });
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    process.nextTick(() => {
      if (this.caListeners.has(listener)) listener(this.material.ca ? { caCertificate: this.material.ca } : null);
    });
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }

  // --- watching -------------------------------------------------------------------------------

  private paths(): string[] {
    return [this.config.certFile, this.config.keyFile, ...(this.config.clientCaFile ? [this.config.clientCaFile] : [])];
  }

  private changed(): void {
    if (this.closed) return;
    clearTimeout(this.settle);
    this.settle = setTimeout(() => void this.check(), this.config.settleMs);
    this.settle.unref();
  }

  private async signature(): Promise<string> {
    const stats = await Promise.all(this.paths().map((p) => stat(p).catch(() => null)));
    return stats.map((s) => signatureOf(() => s)).join('|');
  }

  private async reload(): Promise<void> {
    const before = await this.signature();
    if (before === this.seen || before === this.refused) return;
    let next: TlsMaterial;
    try {
      const [cert, key, ca] = await Promise.all(this.paths().map((p) => readFile(p)));
      next = checkTlsMaterial({ cert: cert!, key: key!, ...(ca ? { ca } : {}) }, this.config);
    } catch (err) {
      // Tried again at the next change of any file; the same bad files are not read every poll.
      this.refused = before;
      this.logger.error(
        { err: (err as Error).message, serving: this.material.serialNumber },
        'the new TLS certificate files cannot be served; keeping the current certificate',
      );
      return;
    }
    this.seen = before;
    this.refused = null;
    if (this.closed) return;
    const unchanged =
      next.cert.equals(this.material.cert) &&
      next.key.equals(this.material.key) &&
      (next.ca ?? Buffer.alloc(0)).equals(this.material.ca ?? Buffer.alloc(0));
    if (unchanged) return;
    const previous = this.material.serialNumber;
    this.material = next;
    for (const listener of this.identityListeners) listener({ certificate: next.cert, privateKey: next.key });
    if (next.ca) for (const listener of this.caListeners) listener({ caCertificate: next.ca });
    for (const listener of this.listeners) listener(next);
    this.logger.info(
      { serialNumber: next.serialNumber, previous, subject: next.subject, validTo: next.validTo },
      'TLS certificate reloaded: new connections get it, open ones keep theirs',
    );
  }
}
