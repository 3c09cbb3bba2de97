/**
 * A spawned server at rest: what its last calls freed given back (its idle release,
 * `ocr_memory_releases_total{when="idle"}`, about 2 s after the last call). A level of memory read
 * just after the calls still holds their garbage, 0.1-0.2 GB after a few pages, and a burst measured
 * above it looks that much smaller. Call it as soon as the last call has been answered.
 */
import { metricSample } from './metric-sample.js';
import { waitFor } from './wait-for.js';

const idleReleases = (httpPort: number): Promise<number> => metricSample(httpPort, 'ocr_memory_releases_total{when="idle"}', 0);

/** Resolves once the server on `httpPort` (its HTTP front door, which serves /metrics) has released memory since the call. */
export async function atRest(httpPort: number, timeoutMs = 30_000): Promise<void> {
  const before = await idleReleases(httpPort);
  await waitFor(async () => (await idleReleases(httpPort)) > before, timeoutMs, 'the server to release what its last calls freed', 100);
}
