/** One sample of a spawned server's Prometheus metrics, read from its HTTP front door's /metrics. */

/**
 * The value of `sample`, written as /metrics writes it (`ocr_connections_open`,
 * `ocr_memory_releases_total{when="idle"}`); `absent` where it is not there (a labelled counter
 * appears only once counted).
 */
export async function metricSample(httpPort: number, sample: string, absent = NaN): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const escaped = sample.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const value = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text)?.[1];
  return value === undefined ? absent : Number(value);
}
