/**
 * HTTPS on `ocr gateway`'s own port (`--https-cert`/`--https-key`). Named apart from the `--tls-*`
 * options, which on the gateway are about its connections to the instances (`--tls-cert` there is a
 * client certificate), while on `ocr serve` `--tls-cert` is the server's own: the gateway serves
 * its port as an instance serves its HTTPS port (ServerCertificates, reloads included).
 */
import { Option } from 'commander';
import type { Logger } from '../server/logger.js';
import type { ServerTlsConfig } from '../server/server-tls.js';

export interface GatewayHttpsCliOptions {
  httpsCert?: string;
  httpsKey?: string;
  /** The client certificate toward the instances (tls-options.ts), for the warning below. */
  tlsCert?: string;
}

const FLAGS = { cert: '--https-cert', key: '--https-key' };

export function gatewayHttpsOptions(): Option[] {
  return [
    new Option(
      '--https-cert <file>',
      "serve HTTPS on the gateway's own --http-port with this PEM certificate (chain), with --https-key; reloaded when the file changes",
    ),
    new Option('--https-key <file>', 'PEM private key of --https-cert'),
  ];
}

/** The gateway's own TLS settings from the flags; undefined: plain HTTP. Throws when one comes without the other. */
export function gatewayHttps(opts: GatewayHttpsCliOptions): ServerTlsConfig | undefined {
  if ((opts.httpsCert === undefined) !== (opts.httpsKey === undefined)) {
    throw new Error('--https-cert and --https-key go together: HTTPS needs the certificate and its private key');
  }
  if (opts.httpsCert === undefined || opts.httpsKey === undefined) return undefined;
  return { certFile: opts.httpsCert, keyFile: opts.httpsKey, flags: FLAGS };
}

/**
 * `--tls-cert` without `--https-cert`: likely `ocr serve`'s flags copied, expecting HTTPS. Only a
 * warning: mutual TLS toward the instances behind a balancer that terminates TLS is legitimate.
 */
export function warnIfClientCertOnly(opts: GatewayHttpsCliOptions, logger: Logger): void {
  if (opts.tlsCert === undefined || opts.httpsCert !== undefined) return;
  logger.warn(
    { tlsCert: opts.tlsCert },
    "--tls-cert is the client certificate the gateway shows the instances (mutual TLS), not its own: the gateway's port serves plain HTTP; to serve HTTPS there, give --https-cert FILE --https-key FILE",
  );
}
