/**
 * Certificates for TLS tests, made by Debian's `openssl` into a temporary directory: a CA, server
 * certificates for 127.0.0.1 and localhost, client certificates, one from another CA, an expired
 * one, one to revoke; CRLs of the CA (`openssl ca -gencrl`). EC P-256 keys: made in milliseconds.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Issued {
  cert: string;
  key: string;
  /** As OpenSSL prints it: upper-case hex. */
  serial: string;
}

export interface TestPki {
  dir: string;
  /** The CA's certificate (trust this) and key. */
  ca: Issued;
  /** Another CA, which the servers do not trust. */
  otherCa: Issued;
  /** SAN DNS:localhost, IP:127.0.0.1, CN=ocr-server. */
  server: Issued;
  /** CN=alice, O=Example (subject "O=Example, CN=alice"). */
  client: Issued;
  /** CN=mallory, issued by otherCa. */
  foreignClient: Issued;
  /** CN=bob, O=Example, expired yesterday. */
  expiredClient: Issued;
  /** CN=carol, O=Example, of the CA: for the CRLs to revoke. */
  revokedClient: Issued;
  /**
   * A PEM CRL of `issuer` (default: the CA) listing `revoked`, written to `name` in the directory; its
   * path. `hours` from now to its nextUpdate (default 72; negative: past), its lastUpdate a day before now.
   */
  crl(name: string, revoked: Issued[], hours?: number, issuer?: Issued): string;
  /** A further server certificate of the same CA and names (reload tests), or for `dnsName` alone. */
  issueServer(name: string, serial: string, dnsName?: string): Issued;
  read(file: string): Buffer;
  remove(): void;
}

function openssl(args: string[], cwd: string): string {
  return execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** OpenSSL's time format for `openssl ca` (GeneralizedTime). */
const caTime = (d: Date): string =>
  d
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, 'Z');

/** `openssl ca` with a database of its own under `dir/name.ca`: revokes each of `revoked`, then writes the CRL. */
function makeCrl(dir: string, ca: Issued, name: string, revoked: Issued[], hours: number): string {
  const db = path.join(dir, `${name}.ca`);
  mkdirSync(db);
  writeFileSync(path.join(db, 'index.txt'), '');
  writeFileSync(path.join(db, 'crlnumber'), '01\n');
  const config = path.join(db, 'ca.cnf');
  writeFileSync(
    config,
    `[ca]\ndefault_ca = crl\n[crl]\ndatabase = ${path.join(db, 'index.txt')}\ncrlnumber = ${path.join(db, 'crlnumber')}\ndefault_md = sha256\n`,
  );
  const signer = ['-config', config, '-cert', ca.cert, '-keyfile', ca.key];
  for (const cert of revoked) openssl(['ca', ...signer, '-revoke', cert.cert], dir);
  const out = path.join(dir, name);
  const now = Date.now();
  openssl(
    [
      'ca',
      ...signer,
      '-gencrl',
      '-crl_lastupdate',
      caTime(new Date(now - 24 * 3600_000)),
      '-crl_nextupdate',
      caTime(new Date(now + hours * 3600_000)),
      '-out',
      out,
    ],
    dir,
  );
  return out;
}

export function makePki(): TestPki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-pki-'));
  const key = (name: string): string => {
    const file = path.join(dir, `${name}.key`);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], dir);
    return file;
  };
  const makeCa = (name: string, cn: string, serial: string): Issued => {
    const k = key(name);
    const cert = path.join(dir, `${name}.crt`);
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-key',
        k,
        '-subj',
        `/CN=${cn}`,
        '-days',
        '3',
        '-set_serial',
        `0x${serial}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-out',
        cert,
      ],
      dir,
    );
    return { cert, key: k, serial };
  };
  const issue = (issuer: Issued, name: string, subject: string, serial: string, extensions: string, days = 3): Issued => {
    const k = key(name);
    const csr = path.join(dir, `${name}.csr`);
    const ext = path.join(dir, `${name}.ext`);
    const cert = path.join(dir, `${name}.crt`);
    writeFileSync(ext, `[v3]\nbasicConstraints=critical,CA:FALSE\n${extensions}\n`);
    openssl(['req', '-new', '-key', k, '-subj', subject, '-out', csr], dir);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        issuer.cert,
        '-CAkey',
        issuer.key,
        '-set_serial',
        `0x${serial}`,
        '-days',
        String(days),
        '-extfile',
        ext,
        '-extensions',
        'v3',
        '-out',
        cert,
      ],
      dir,
    );
    return { cert, key: k, serial };
  };
  const serverExtFor = (names: string): string =>
    `subjectAltName=${names}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature`;
  const serverExt = serverExtFor('DNS:localhost,IP:127.0.0.1');
  const clientExt = 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature';

  const ca = makeCa('ca', 'OCR Test CA', '0A');
  const otherCa = makeCa('other-ca', 'Other CA', '0B');
  return {
    dir,
    ca,
    otherCa,
    server: issue(ca, 'server', '/CN=ocr-server', '5E4F01', serverExt),
    client: issue(ca, 'client', '/O=Example/CN=alice', 'C11E01', clientExt),
    foreignClient: issue(otherCa, 'foreign-client', '/O=Example/CN=mallory', 'F0E1', clientExt),
    // Not after a day before its start: expired from the first.
    expiredClient: issue(ca, 'expired-client', '/O=Example/CN=bob', 'E1', clientExt, -1),
    revokedClient: issue(ca, 'revoked-client', '/O=Example/CN=carol', 'C11E02', clientExt),
    issueServer: (name, serial, dnsName) =>
      issue(ca, name, '/CN=ocr-server', serial, dnsName === undefined ? serverExt : serverExtFor(`DNS:${dnsName}`)),
    crl: (name, revoked, hours = 72, issuer = ca) => makeCrl(dir, issuer, name, revoked, hours),
    read: (file) => readFileSync(file),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
