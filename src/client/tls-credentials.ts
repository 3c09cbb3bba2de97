/**
 * TLS channel credentials that send no SNI where the name checked is an IP address, and that check
 * each instance of a list of servers by name against its own entry's name. grpc-js sends its one name
 * (the target's host, or grpc.ssl_target_name_override) as SNI whatever it is, and Node then warns
 * (DEP0123): RFC 6066 allows only host names there; and it checks every address against that name,
 * so "ocr-1:50051,ocr-2:50051" would reach ocr-2 only with a certificate for ocr-1. Other connections
 * checked against a host name go through grpc-js's own credentials, unchanged.
 */
import { isIP } from 'node:net';
import { connect, createSecureContext, type SecureContext } from 'node:tls';
import { CallCredentials, ChannelCredentials, credentials, experimental, type ChannelOptions } from '@grpc/grpc-js';
import { HOSTS_SCHEME } from './host-list.js';
import { hostNamesOf } from './host-names.js';

/** Schemes whose name is the host of the target's first address, as grpc-js's dns and ip resolvers and resolver-hosts.ts give it. */
const ADDRESS_SCHEMES = new Set(['dns', 'ipv4', 'ipv6', HOSTS_SCHEME]);

export class TlsCredentials extends ChannelCredentials {
  /** grpc-js's credentials, for connections checked against a host name. */
  private readonly byName: ChannelCredentials;
  private readonly context: SecureContext;

  constructor(ca: Buffer | null, key: Buffer | null, cert: Buffer | null) {
    super();
    this.byName = credentials.createSsl(ca, key, cert);
    this.context = createSecureContext({ ...(ca ? { ca } : {}), ...(key ? { key } : {}), ...(cert ? { cert } : {}) });
  }

  _isSecure(): boolean {
    return true;
  }

  _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  _createSecureConnector(
    target: experimental.GrpcUri,
    options: ChannelOptions,
    callCredentials: CallCredentials = CallCredentials.createEmpty(),
  ): experimental.SecureConnector {
    const override = options['grpc.ssl_target_name_override'];
    const name = override || targetHost(target, options);
    // A name given applies to every address; without one, each address of a list has its entry's.
    const names = override || name === null ? undefined : hostNamesOf(options);
    if (name === null || (isIP(name) === 0 && names === undefined))
      return this.byName._createSecureConnector(target, options, callCredentials);
    const context = this.context;
    return {
      connect: (socket) =>
        new Promise((resolve, reject) => {
          const checked = names?.nameOf(socket.remoteAddress, socket.remotePort) ?? name;
          // Without a servername (no SNI), Node checks the certificate against `host`: its IP addresses.
          const servername = isIP(checked) === 0 ? { servername: checked } : {};
          const secure = connect({ socket, secureContext: context, host: checked, ...servername, ALPNProtocols: ['h2'] }, () => {
            if (secure.authorized) resolve({ socket: secure, secure: true });
            else reject(secure.authorizationError);
          });
          secure.on('error', reject);
        }),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => callCredentials,
      destroy: () => {},
    };
  }
}

/** The host grpc-js checks for `target`, where it is that of an address; null where grpc-js alone knows it. */
function targetHost(target: experimental.GrpcUri, options: ChannelOptions): string | null {
  // Through an HTTP proxy the target is the proxy's, and the server's is in this option.
  if (options['grpc.http_connect_target'] !== undefined || !ADDRESS_SCHEMES.has(target.scheme ?? '')) return null;
  const first = target.path.split(',')[0]!;
  return experimental.splitHostPort(first)?.host ?? first;
}
