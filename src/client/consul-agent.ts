/**
 * How a consul:// target reaches its agent: its address, and HTTPS with its TLS settings where the
 * agent serves only that (`ports { http = -1, https = 8501 }`, common where ACLs are on). Told as
 * Consul's own tools are told, by its environment variables, or by the channel option `ocr.consul_tls`.
 */
import { readFileSync } from 'node:fs';

/** The TLS settings of node's https requests to the agent. */
export interface ConsulAgentTls {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
  rejectUnauthorized?: boolean;
}

/** The channel option `ocr.consul_tls`: the agent is reached over HTTPS, with these (PEM text) where given. */
export interface ConsulTlsOption {
  /** The CA that signed the agent's certificate (default: Node's built-in roots). */
  ca?: string | Buffer;
  /** A client certificate and key, where the agent has `verify_incoming` on. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the agent's certificate must carry, where it is not the target's host. */
  serverName?: string;
}

const LOCAL_AGENT = '127.0.0.1';

/** Consul's booleans (Go's strconv.ParseBool): undefined where unset or not one. */
function envBool(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (/^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  return undefined;
}

/** The file a variable names, read; throws naming both where it cannot be read. */
function readNamedFile(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${variable} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function isTlsOption(value: unknown): value is ConsulTlsOption {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The agent of a consul:// target, "http://HOST:PORT" or "https://HOST:PORT". `authority`: the
 * target's HOST[:PORT]; none (consul:///SERVICE) takes CONSUL_HTTP_ADDR, as Consul's tools do, else
 * the local agent. HTTPS where that address says https://, where CONSUL_HTTP_SSL is true, or where
 * the channel option ocr.consul_tls is given (`tlsOption`).
 */
export function consulAgentUrl(authority: string | undefined, tlsOption: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const address = authority || env.CONSUL_HTTP_ADDR || LOCAL_AGENT;
  const scheme = /^(https?):\/\//i.exec(address)?.[1]?.toLowerCase();
  const secure = tlsOption !== undefined || (scheme ?? (envBool(env.CONSUL_HTTP_SSL) ? 'https' : 'http')) === 'https';
  const hostPort = address.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  // Consul's ports, where the address names none: 8500 for HTTP, 8501 for HTTPS.
  return `${secure ? 'https' : 'http'}://${/:\d+$/.test(hostPort) ? hostPort : `${hostPort}:${secure ? 8501 : 8500}`}`;
}

/**
 * The TLS settings of an https agent: `tlsOption` (ocr.consul_tls) where given, else CONSUL_CACERT,
 * CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY (files), CONSUL_TLS_SERVER_NAME, and no verification with
 * CONSUL_HTTP_SSL_VERIFY=false. Throws, naming the variable or option, for a file it cannot read or
 * an option that is not an object.
 */
export function consulAgentTls(tlsOption: unknown, env: NodeJS.ProcessEnv = process.env): ConsulAgentTls {
  if (tlsOption !== undefined) {
    if (!isTlsOption(tlsOption)) {
      throw new TypeError(`channel option ocr.consul_tls must be an object { ca?, cert?, key?, serverName? }, got ${typeof tlsOption}`);
    }
    return {
      ...(tlsOption.ca ? { ca: tlsOption.ca } : {}),
      ...(tlsOption.cert ? { cert: tlsOption.cert } : {}),
      ...(tlsOption.key ? { key: tlsOption.key } : {}),
      ...(tlsOption.serverName ? { servername: tlsOption.serverName } : {}),
    };
  }
  return {
    ...(env.CONSUL_CACERT ? { ca: readNamedFile('CONSUL_CACERT', env.CONSUL_CACERT) } : {}),
    ...(env.CONSUL_CLIENT_CERT ? { cert: readNamedFile('CONSUL_CLIENT_CERT', env.CONSUL_CLIENT_CERT) } : {}),
    ...(env.CONSUL_CLIENT_KEY ? { key: readNamedFile('CONSUL_CLIENT_KEY', env.CONSUL_CLIENT_KEY) } : {}),
    ...(env.CONSUL_TLS_SERVER_NAME ? { servername: env.CONSUL_TLS_SERVER_NAME } : {}),
    ...(envBool(env.CONSUL_HTTP_SSL_VERIFY) === false ? { rejectUnauthorized: false } : {}),
  };
}

/**
 * The ACL token Consul's tools take from the environment: the one in the file CONSUL_HTTP_TOKEN_FILE
 * names (trimmed), else CONSUL_HTTP_TOKEN, as Consul's API client ranks them. Throws, naming the
 * variable and the file, for a file it cannot read.
 */
export function consulEnvToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.CONSUL_HTTP_TOKEN_FILE;
  const fromFile = file ? readNamedFile('CONSUL_HTTP_TOKEN_FILE', file).toString('utf8').trim() : '';
  return fromFile || env.CONSUL_HTTP_TOKEN || undefined;
}
