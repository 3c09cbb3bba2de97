/**
 * TLS on the command line: the client side (`--tls`, `--tls-ca`, `--tls-cert`/`--tls-key`,
 * `--tls-server-name`) of recognize, info, health and gateway, and the server side of serve. The
 * options are declared here and read here, so that every command takes them alike.
 */
import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import { checkServerName, isPem, type ClientTls } from '../client/tls.js';

export interface ClientTlsCliOptions {
  /** TLS with Node's built-in roots (implied by any other TLS option). */
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
}

/** "the server's certificate", "the instances' certificates". */
const certificatesOf = (what: string): string => (what.endsWith('s') ? `${what}' certificates` : `${what}'s certificate`);

/** `certNote`: what --tls-cert is not, where a command also serves (`ocr gateway`). */
export function clientTlsOptions(what = 'the server', certNote?: string): Option[] {
  const notOwn = certNote ? `; ${certNote}` : '';
  return [
    new Option('--tls', `connect to ${what} over TLS, trusting the system's CAs (implied by the other --tls-* options)`),
    new Option('--tls-ca <file>', `PEM CA certificate(s) that signed ${certificatesOf(what)} (TLS)`),
    new Option(
      '--tls-cert <file>',
      `PEM client certificate shown to ${what}, for mutual TLS (${what} started with --tls-client-ca); with --tls-key${notOwn}`,
    ),
    new Option('--tls-key <file>', 'PEM private key of --tls-cert'),
    new Option(
      '--tls-server-name <name>',
      "name the server's certificate must carry, in place of the target's host (for IP addresses, and consul:// targets, whose default name is the service name)",
    ),
  ];
}

/** The file's bytes, or an error naming the flag: unreadable, or not PEM (the SDK's refusal would name its own option). */
function readPem(file: string, flag: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${flag} ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!isPem(bytes)) throw new Error(`${flag} ${file} is not PEM (no "-----BEGIN" line): give the PEM file; openssl converts DER to it`);
  return bytes;
}

/** The SDK's `tls` option from the flags, files read; undefined: plaintext. Throws naming the flag that is wrong. */
export function clientTls(opts: ClientTlsCliOptions): ClientTls | undefined {
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    throw new Error('--tls-cert and --tls-key go together: a client certificate needs its private key');
  }
  const on = opts.tls || opts.tlsCa !== undefined || opts.tlsCert !== undefined || opts.tlsServerName !== undefined;
  if (!on) return undefined;
  return {
    ...(opts.tlsCa !== undefined ? { ca: readPem(opts.tlsCa, '--tls-ca') } : {}),
    ...(opts.tlsCert !== undefined ? { cert: readPem(opts.tlsCert, '--tls-cert') } : {}),
    ...(opts.tlsKey !== undefined ? { key: readPem(opts.tlsKey, '--tls-key') } : {}),
    ...(opts.tlsServerName !== undefined ? { serverName: checkServerName(opts.tlsServerName, '--tls-server-name') } : {}),
  };
}

export interface ServerTlsCliOptions {
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  tlsClientCrl?: string;
  /** Consul's checks of this instance: the name they check its certificate for, or no check of it. */
  consulTlsServerName?: string;
  consulTlsSkipVerify?: boolean;
}

export function serverTlsOptions(): Option[] {
  return [
    new Option(
      '--tls-cert <file>',
      'serve TLS on the gRPC and HTTP ports with this PEM certificate (chain), with --tls-key; reloaded when the file changes',
    ),
    new Option('--tls-key <file>', 'PEM private key of --tls-cert'),
    new Option(
      '--tls-client-ca <file>',
      "require a client certificate signed by this PEM CA on both ports (mutual TLS); its subject is the caller's identity",
    ),
    new Option(
      '--tls-client-crl <file>',
      'PEM CRL(s) of --tls-client-ca: a client certificate listed is refused on both ports; reloaded when the file changes, renew it before its nextUpdate',
    ),
    new Option(
      '--consul-tls-server-name <name>',
      "name Consul's checks verify this instance's certificate against (default: the address they dial)",
    ),
    new Option('--consul-tls-skip-verify', "Consul's checks do not verify this instance's certificate (self-signed, no CA on the agent)"),
  ];
}

/** The server's TLS settings from the flags; undefined: plaintext. Throws naming what is missing. */
export function serverTls(
  opts: ServerTlsCliOptions,
): { certFile: string; keyFile: string; clientCaFile?: string; clientCrlFile?: string } | undefined {
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    throw new Error('--tls-cert and --tls-key go together: TLS needs the certificate and its private key');
  }
  if (opts.tlsClientCrl !== undefined && opts.tlsClientCa === undefined) {
    throw new Error('--tls-client-crl revokes client certificates of --tls-client-ca: add --tls-client-ca FILE (mutual TLS)');
  }
  if (opts.tlsCert === undefined || opts.tlsKey === undefined) {
    if (opts.tlsClientCa !== undefined) throw new Error('--tls-client-ca needs TLS: add --tls-cert and --tls-key');
    if (opts.consulTlsServerName !== undefined || opts.consulTlsSkipVerify) {
      throw new Error('--consul-tls-server-name and --consul-tls-skip-verify are for a TLS instance: add --tls-cert and --tls-key');
    }
    return undefined;
  }
  return {
    certFile: opts.tlsCert,
    keyFile: opts.tlsKey,
    ...(opts.tlsClientCa !== undefined ? { clientCaFile: opts.tlsClientCa } : {}),
    ...(opts.tlsClientCrl !== undefined ? { clientCrlFile: opts.tlsClientCrl } : {}),
  };
}
