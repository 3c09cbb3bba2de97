/**
 * TLS for both of a server's ports (gRPC and HTTP) from certificate files that may be replaced while
 * it runs (a renewal by certbot, cert-manager, Vault agent): the files are watched, and a new pair
 * that reads, parses, matches its key and is valid now replaces the old one for new connections.
 * Connections already open keep the session they negotiated, so no call in flight is dropped. A bad
 * new pair (half written, key of another certificate, expired) is logged and the old one kept.
 *
 * Under mutual TLS a CRL file (the client CA's revocations) is watched and reloaded with them.
 *
 * gRPC: credentials of this module's own (FollowingServerCredentials), on which grpc-js calls
 * setSecureContext on its HTTP/2 server with each update. HTTP: the same material, handed to
 * https.Server.setSecureContext by the server.
 */
import { readFileSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import path from 'node:path';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { ServerCredentials } from '@grpc/grpc-js';
import { crlNextUpdate } from './crl-next-update.js';
import type { Logger } from './logger.js';

export interface ServerTlsConfig {
  /** PEM certificate (chain: the server's first) and its private key. */
  certFile: string;
  keyFile: string;
  /** PEM CA bundle: set, every client must present a certificate it signed (mutual TLS). */
  clientCaFile?: string;
  /** PEM CRL(s) of those CAs (only with clientCaFile): a client certificate listed in one is refused. */
  clientCrlFile?: string;
  /** How often the files are looked at besides file-system events (which some mounts never send). Default 2000. */
  pollMs?: number;
  /** Quiet time after a change before the files are read, so that a cert and key written one after the other are read together. Default 200. */
  settleMs?: number;
  /** The options that named the certificate and key, for start errors: `ocr gateway` names its own. Default --tls-cert, --tls-key. */
  flags?: { cert: string; key: string };
}

/** The files as read. */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** The CRL file whole: one or several PEM CRLs. */
  crl?: Buffer;
}

/** One pair, CA bundle and CRLs, read and checked. */
export interface TlsMaterial extends TlsFiles {
  /** The earliest nextUpdate of the CRLs: past it, OpenSSL refuses every client certificate. */
  crlNextUpdate?: Date;
  /** The server certificate's serial number (hex, as OpenSSL prints it) and validity, for logs. */
  serialNumber: string;
  subject: string;
  validTo: string;
}

/** What an https.Server (Fastify's `https` option) takes for the same material. */
export interface HttpsOptions extends ContextOptions {
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** What a TLS secure context takes of the material: for createSecureContext and setSecureContext. */
export interface ContextOptions {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  crl?: Buffer[];
}

export function contextOptions({ cert, key, ca, crl }: TlsMaterial): ContextOptions {
  return { cert, key, ...(ca ? { ca } : {}), ...(crl ? { crl: pemCrls(crl) } : {}) };
}

/** Each PEM CRL of a file: Node reads one CRL from each buffer of its `crl` option, so a file of several is split. */
function pemCrls(file: Buffer): Buffer[] {
  const blocks = file.toString('latin1').match(/-----BEGIN X509 CRL-----[^-]*-----END X509 CRL-----/g) ?? [];
  return blocks.map((block) => Buffer.from(block, 'latin1'));
}

const DEFAULTS = { pollMs: 2000, settleMs: 200 };

/** Within this of a CRL's nextUpdate, the server warns (once for each CRL) that it must be renewed. */
const CRL_RENEW_WARNING_MS = 24 * 3600_000;

function oneLine(name: string): string {
  return name.split('\n').join(', ');
}

/**
 * Reads and checks the files; throws an Error naming the file and what is wrong with it. `now`
 * decides validity (tests pass their own).
 */
export function checkTlsMaterial(files: TlsFiles, config: ServerTlsConfig, now = new Date()): TlsMaterial {
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
  const crlNextUpdate = files.crl && checkCrl(files.crl, config.clientCrlFile!, now);
  try {
    // What the TLS stack itself will say of them (a chain it cannot use, for instance).
    createSecureContext({ cert: files.cert, key: files.key, ...(files.ca ? { ca: files.ca } : {}) });
  } catch (err) {
    throw new Error(`${config.certFile} and ${config.keyFile} cannot serve TLS: ${(err as Error).message}`, { cause: err });
  }
  return {
    ...files,
    ...(crlNextUpdate ? { crlNextUpdate } : {}),
    serialNumber: certificate.serialNumber,
    subject: oneLine(certificate.subject),
    validTo: certificate.validTo,
  };
}

/**
 * Parses the CRLs as the TLS stack will; their earliest nextUpdate. Throws naming the file when one
 * does not parse or is past its nextUpdate (OpenSSL would then refuse every client certificate).
 */
function checkCrl(crl: Buffer, file: string, now: Date): Date | undefined {
  const crls = pemCrls(crl);
  let nextUpdates: Date[];
  try {
    if (crls.length === 0) throw new Error('no "-----BEGIN X509 CRL-----" block');
    createSecureContext({ crl: crls });
    nextUpdates = crls
      .map((pem) => crlNextUpdate(Buffer.from(pem.toString('latin1').replace(/-----[^-]+-----/g, ''), 'base64')))
      .filter((d): d is Date => d !== null);
  } catch (err) {
    throw new Error(`${file} holds no PEM CRL: ${(err as Error).message}`, { cause: err });
  }
  if (nextUpdates.length === 0) return undefined;
  const earliest = new Date(Math.min(...nextUpdates.map((d) => d.getTime())));
  if (now > earliest) {
    throw new Error(
      `the CRL in ${file} is past its nextUpdate, ${earliest.toISOString()}: every client certificate would be refused; renew it`,
    );
  }
  return earliest;
}

function readNamed(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${flag} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

type Listener = (material: TlsMaterial) => void;

/**
 * What differs between two materials, as a reload log names it: an operator who renewed only the
 * CRL must not read that the certificate was reloaded.
 */
export function changedParts(before: TlsFiles, after: TlsFiles): string[] {
  const same = (a: Buffer | undefined, b: Buffer | undefined): boolean => (a ?? Buffer.alloc(0)).equals(b ?? Buffer.alloc(0));
  return [
    ...(same(before.cert, after.cert) && same(before.key, after.key) ? [] : ['certificate']),
    ...(same(before.ca, after.ca) ? [] : ['client CA']),
    ...(same(before.crl, after.crl) ? [] : ['client CRL']),
  ];
}

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
 * grpc-js credentials that follow ServerCertificates. Not grpc-js's certificate-provider ones: they
 * hand on the CA, certificate and key only, and a CRL must reach setSecureContext too.
 */
class FollowingServerCredentials extends ServerCredentials {
  constructor(certificates: ServerCertificates) {
    super(
      {
        requestCert: certificates.mutual,
        rejectUnauthorized: certificates.mutual,
        // As grpc-js's own credentials take them.
        ...(process.env.GRPC_SSL_CIPHER_SUITES ? { ciphers: process.env.GRPC_SSL_CIPHER_SUITES } : {}),
      },
      contextOptions(certificates.current),
    );
    certificates.onChange((material) => this.updateSecureContextOptions(contextOptions(material)));
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

/** The server's certificate files (and CRLs), watched. */
export class ServerCertificates {
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
  /** The CRL whose nearing nextUpdate was logged: the poll looks every time, but says it once. */
  private crlWarnedOf: Buffer | undefined;

  /**
   * Reads the files now: a start with files that cannot serve fails at once, naming the file.
   * `logger` may be replaced once the instance's own logger exists.
   */
  constructor(
    config: ServerTlsConfig,
    public logger: Logger,
  ) {
    this.config = { ...DEFAULTS, ...config };
    if (config.clientCrlFile && !config.clientCaFile) throw new Error('a client CRL needs the client CA it revokes for (--tls-client-ca)');
    const files = {
      cert: readNamed(config.certFile, config.flags?.cert ?? '--tls-cert'),
      key: readNamed(config.keyFile, config.flags?.key ?? '--tls-key'),
      ...(config.clientCaFile ? { ca: readNamed(config.clientCaFile, '--tls-client-ca') } : {}),
      ...(config.clientCrlFile ? { crl: readNamed(config.clientCrlFile, '--tls-client-crl') } : {}),
    };
    this.material = checkTlsMaterial(files, config);
    this.warnOfCrlRenewal();
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
    // The poll also sees a CRL near its nextUpdate while it is served unchanged.
    this.poll = setInterval(() => {
      this.warnOfCrlRenewal();
      void this.check();
    }, this.config.pollMs);
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
    return new FollowingServerCredentials(this);
  }

  /** Options of an https.Server serving the same pair; later pairs go to its setSecureContext (see onChange). */
  httpsOptions(): HttpsOptions {
    return {
      ...contextOptions(this.material),
      requestCert: this.mutual,
      rejectUnauthorized: this.mutual,
    };
  }

  /** Serves each later pair on `server` (one listening with httpsOptions()) to its new connections. */
  follow(server: HttpsServer): void {
    this.onChange((material) => server.setSecureContext(contextOptions(material)));
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

  // --- watching -------------------------------------------------------------------------------

  private paths(): string[] {
    const { certFile, keyFile, clientCaFile, clientCrlFile } = this.config;
    // In the order reload() reads them: a CRL comes only with a CA.
    return [certFile, keyFile, ...(clientCaFile ? [clientCaFile] : []), ...(clientCrlFile ? [clientCrlFile] : [])];
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
      const [cert, key, ca, crl] = await Promise.all(this.paths().map((p) => readFile(p)));
      next = checkTlsMaterial({ cert: cert!, key: key!, ...(ca ? { ca } : {}), ...(crl ? { crl } : {}) }, this.config);
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
    const changes = changedParts(this.material, next);
    if (changes.length === 0) return;
    const previous = this.material.serialNumber;
    this.material = next;
    for (const listener of this.listeners) listener(next);
    this.logger.info(
      {
        serialNumber: next.serialNumber,
        previous,
        subject: next.subject,
        validTo: next.validTo,
        ...(next.crlNextUpdate ? { crlNextUpdate: next.crlNextUpdate.toISOString() } : {}),
      },
      `TLS ${changes.join(' and ')} reloaded: new connections get it, open ones keep theirs`,
    );
    this.warnOfCrlRenewal();
  }

  /** A CRL near its nextUpdate: past it every client is refused, so the operator hears of it beforehand. */
  private warnOfCrlRenewal(): void {
    const { crl, crlNextUpdate } = this.material;
    if (!crlNextUpdate || crl === this.crlWarnedOf || crlNextUpdate.getTime() - Date.now() >= CRL_RENEW_WARNING_MS) return;
    this.crlWarnedOf = crl;
    this.logger.warn(
      { file: this.config.clientCrlFile, nextUpdate: crlNextUpdate.toISOString() },
      'the client CRL is within a day of its nextUpdate: renew it, for past it every client certificate is refused',
    );
  }
}
