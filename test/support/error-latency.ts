import { Histogram } from 'prom-client';
import type { ServerMetrics } from '../../src/server/metrics.js';

/**
 * What `metrics` timed in ocr_request_error_duration_seconds for `method` and `code`: how many
 * answers in all, and how many within the bucket whose `le` is given. Read by name, as a scrape
 * does: none where the histogram is missing.
 */
export async function errorAnswerTimes(
  metrics: ServerMetrics,
  method: string,
  code: string,
): Promise<{ count: number; within: (le: string) => number }> {
  const histogram = metrics.registry.getSingleMetric('ocr_request_error_duration_seconds');
  const values =
    histogram instanceof Histogram
      ? (await histogram.get()).values.filter((v) => v.labels.method === method && v.labels.code === code)
      : [];
  const read = (suffix: string, le?: string): number =>
    values.find((v) => v.metricName === `ocr_request_error_duration_seconds_${suffix}` && (le === undefined || String(v.labels.le) === le))
      ?.value ?? 0;
  return { count: read('count'), within: (le) => read('bucket', le) };
}
