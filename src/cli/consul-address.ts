import { parseConsulAddress } from '../server/consul-registration.js';

/**
 * The Consul agent `ocr serve` and `ocr cluster` register with: --consul, else CONSUL_HTTP_ADDR;
 * unset or empty, none. A bad one throws, naming where it came from: an operator who gave no
 * --consul may not know the environment holds one.
 */
export function consulAddress(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const address = flag || env.CONSUL_HTTP_ADDR;
  if (!address) return undefined;
  try {
    parseConsulAddress(address);
  } catch (err) {
    throw new Error(`${flag ? '--consul' : 'CONSUL_HTTP_ADDR'}: ${(err as Error).message}`, { cause: err });
  }
  return address;
}
