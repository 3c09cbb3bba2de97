/**
 * Strict parsers for option values: "8080" is a port, "8080x", "8e3" and "" are not. They throw
 * commander's InvalidArgumentError, whose message commander appends to the option's name.
 */

import { InvalidArgumentError } from 'commander';
import { KEY_NAME, KEY_NAME_RULE } from '../auth/api-keys.js';
import { CONSUL_SERVICE_NAME, CONSUL_SERVICE_NAME_RULE } from '../client/consul-target.js';
import { parseOrigin } from '../http/cross-origin.js';
import { parseCacheBackend, type CacheBackend } from '../server/result-cache-config.js';
import { bareHost } from '../shared/host-port.js';
import { isWildcardHost } from '../shared/wildcard-host.js';

/** Parses a whole number in [min, max], digits only. */
export function wholeNumber(min: number, max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `, at least ${min}` : ` from ${min} to ${max}`;
      throw new InvalidArgumentError(`It must be a whole number${range}.`);
    }
    return n;
  };
}

/** Parses a plain decimal number in [min, max] ("0.5", "2", ".5"; not "1e-1" or "0x1"). */
export function decimal(min: number, max: number = Number.MAX_VALUE): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^(\d+(\.\d*)?|\.\d+)$/.test(value) || n < min || n > max) {
      const range = max === Number.MAX_VALUE ? `, at least ${min}` : ` from ${min} to ${max}`;
      throw new InvalidArgumentError(`It must be a decimal number${range}.`);
    }
    return n;
  };
}

export const port = wholeNumber(0, 65535);
/** A port to bind as given: not 0, any free port, where the port must be known (a metrics port, a first of several). */
export const boundPort = wholeNumber(1, 65535);
export const positiveInt = wholeNumber(1);
/** 0..1, for scores and confidences. */
export const fraction = decimal(0, 1);

/**
 * `--client-ipv6-prefix`: how many first bits of an IPv6 caller's address key it for the per-client
 * limits (src/shared/client-address.ts).
 */
export function ipv6PrefixLength(value: string): number {
  try {
    return wholeNumber(1, 128)(value);
  } catch {
    throw new InvalidArgumentError(
      'It must be a prefix length from 1 to 128: 64 counts every address of an IPv6 /64 as one client, 128 each address alone.',
    );
  }
}

/** `--cache`: memory, off, or redis://HOST:PORT[/DB]. */
export function cacheBackend(value: string): CacheBackend {
  try {
    return parseCacheBackend(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** `--cors-origin`, given again or with several values: each an origin (src/http/cross-origin.ts), gathered in a list. */
export function corsOrigin(value: string, previous: string[] | undefined): string[] {
  try {
    return [...(previous ?? []), parseOrigin(value)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** `ocr api-key create --name`: a name the key file takes. */
export function keyName(value: string): string {
  if (!KEY_NAME.test(value)) throw new InvalidArgumentError(`It must be ${KEY_NAME_RULE}.`);
  return value;
}

/**
 * `--advertise-host`: an address callers and the agent's checks can dial. Consul refuses a wildcard
 * (400 "Invalid service address"), and the instance retried that registration for as long as it ran.
 * An IPv6 address in brackets is taken without them: kept, its check dialled `[[2001:db8::7]]:50051`.
 */
export function advertiseHost(value: string): string {
  const host = bareHost(value);
  if (host === '' || isWildcardHost(host)) {
    throw new InvalidArgumentError(
      "It must be an address callers and the Consul agent can dial: this machine's LAN address or DNS name, not a wildcard " +
        '(with --host 0.0.0.0 and no --advertise-host, the first IPv4 address of this machine is registered).',
    );
  }
  return host;
}

/**
 * `--service-name`: one a consul:// target can name. Consul takes others ("ocr prod", "ocr/v1"),
 * and no client could then find the instances; an empty one it refuses, and the instance retried
 * that registration for as long as it ran.
 */
export function consulServiceName(value: string): string {
  if (!CONSUL_SERVICE_NAME.test(value)) {
    throw new InvalidArgumentError(`It must be ${CONSUL_SERVICE_NAME_RULE}, as consul://AGENT/SERVICE names it.`);
  }
  return value;
}

/**
 * `--host`: an interface to listen on. An empty one (`--host "$HOST"` with HOST unset) failed at
 * the bind as "No addresses resolved for port [object Object]". An IPv6 address in brackets, as a
 * URL writes it (`[::]`), is taken without them: `ocr serve` failed with "Failed to parse DNS
 * address dns:[[::]]:50051", `ocr gateway` with "the name [::] does not resolve".
 */
export function listenHost(value: string): string {
  if (value.trim() === '') {
    throw new InvalidArgumentError('It must be a host name or address to listen on, such as 127.0.0.1, or 0.0.0.0 for all interfaces.');
  }
  return bareHost(value);
}

/**
 * `--instance-id`: an empty one named the instance '' in answers and logs, and, with Consul, left
 * the agent to take the service name as its ID: the instances replaced one another's registration.
 */
export function instanceId(value: string): string {
  if (value.trim() === '') {
    throw new InvalidArgumentError(
      'It must not be empty: give each instance a name of its own, or leave the option out for SERVICE-HOST-PORT-RANDOM.',
    );
  }
  return value;
}
