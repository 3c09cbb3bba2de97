/**
 * The HTTP front door of `ocr gateway`: each request becomes a call to the cluster through the
 * SDK, which balances over the healthy instances, retries a refused or lost call elsewhere and
 * follows Consul. The gateway holds no state, so several can run side by side.
 */
import { Registry } from 'prom-client';
import type { CallSettings, OcrClient } from '../client/index.js';
import type { HttpCall, OcrBackend } from './backend.js';
import { collectProcessMetrics } from '../shared/process-metrics.js';
import type { ClusterReach } from './cluster-reach.js';

/**
 * What gRPC metadata can carry of an HTTP header value: printable ASCII. Any other character
 * (obs-text, a tab) becomes '?', which no bearer token has either, so that a value the instances
 * would refuse is still refused, and one they ignore is still ignored.
 */
const asMetadata = (value: string): string => value.replace(/[^\x20-\x7e]/g, '?');

/**
 * The call's settings. The caller's authorization header goes on to the instances as it came, in
 * place of the gateway's own token (--token): the instances check it and decide, so a value they
 * ignore (no tokens configured) or refuse gets the answer it gets from them directly. None leaves
 * the gateway's.
 */
function settings(call: HttpCall): CallSettings {
  return {
    signal: call.signal,
    priority: call.priority,
    ...(call.authorization !== undefined ? { authorization: asMetadata(call.authorization) } : {}),
    // The instances' logs then name the request as the gateway's answer and logs do.
    requestId: asMetadata(call.requestId),
    // No timeout from the caller: the client's default deadline.
    ...(call.deadline !== undefined ? { deadlineMs: Math.max(1, call.deadline - Date.now()) } : {}),
  };
}

export interface ClusterBackend extends OcrBackend {
  readonly registry: Registry;
  /** /readyz answers 503 from now on, on the connections still open while the requests in flight finish (app.ts). */
  drain(): void;
  /** Calls to the cluster not yet answered: what a forced exit cuts. */
  readonly inFlight: number;
}

/** `reach` hears of every call's outcome, to log the loss and the return of the instances. */
export function clusterBackend(client: OcrClient, reach?: ClusterReach): ClusterBackend {
  const registry = new Registry();
  collectProcessMetrics(registry);
  let draining = false;
  let inFlight = 0;
  const observed = <T>(answer: Promise<T>): Promise<T> => {
    inFlight += 1;
    return answer
      .then(
        (value) => {
          reach?.reached();
          return value;
        },
        (err: unknown) => {
          reach?.failed(err);
          throw err;
        },
      )
      .finally(() => (inFlight -= 1));
  };
  return {
    registry,
    get inFlight() {
      return inFlight;
    },
    recognize: (image, options, call) => observed(client.recognize(image, options, settings(call))),
    recognizeLines: (images, options, call) => observed(client.recognizeLines(images, options, settings(call))),
    serverInfo: (call) => observed(client.getServerInfo(settings(call))),
    ready: () => !draining,
    drain: () => (draining = true),
    metrics: async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
  };
}
