/**
 * Why a consul:// target gave no instance to call, and what to do about it: the description of
 * every call that fails for it (the SDK's error, the CLI's message, the gateway's 503).
 */
import type { ConsulTarget } from './consul-target.js';

/** What Consul's query named beyond the service: "(tag T, datacenter D)", or nothing. */
function filters(target: ConsulTarget): string {
  const parts = [...(target.tag ? [`tag ${target.tag}`] : []), ...(target.dc ? [`datacenter ${target.dc}`] : [])];
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** Consul answered, and listed no instance whose checks all pass. */
export function noPassingInstance(target: ConsulTarget): string {
  return (
    `no passing instance of "${target.service}" in Consul at ${target.agent}${filters(target)}: check that its instances run and ` +
    `registered under that name (ocr serve --service-name), and that their checks pass ` +
    `(${target.agent}/v1/health/checks/${encodeURIComponent(target.service)}); where ACLs are on, that the client's token ` +
    `(CONSUL_HTTP_TOKEN) may read it`
  );
}

/** How an agent that serves HTTPS only is reached (consul-agent.ts). */
const HTTPS_ADVICE =
  'that an agent serving HTTPS only is asked over HTTPS (CONSUL_HTTP_SSL=true or CONSUL_HTTP_ADDR=https://…, with ' +
  "CONSUL_CACERT for its CA; or the SDK's channel option ocr.consul_tls)";

/** No answer from the agent, or an error in place of the list (a 403 where ACLs refuse the token). */
export function agentUnreachable(target: ConsulTarget, reason: string): string {
  return (
    `Consul at ${target.agent} unreachable: ${reason}: check that an agent runs there, that the target names its ` +
    `HTTP address (consul://HOST:PORT/SERVICE, port 8500 by default), ${HTTPS_ADVICE}, and, where ACLs are on, that the ` +
    `client's token (CONSUL_HTTP_TOKEN) may read "${target.service}"`
  );
}

/** The agent refused the client's token (403): Consul's "ACL not found", for a token it does not know. */
export class ConsulTokenRefusal extends Error {}

/** What a call is told when the agent refused the client's token, in the agent's words (`said`). */
export function tokenRefused(target: ConsulTarget, said: string): string {
  return (
    `Consul at ${target.agent} refused the client's token: ${said}: give the client (CONSUL_HTTP_TOKEN, or the SDK's ` +
    `channel option ocr.consul_token) one of the agent's tokens that may read "${target.service}" (service:read and node:read)`
  );
}
