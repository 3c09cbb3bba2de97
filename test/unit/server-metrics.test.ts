import { expect } from 'chai';
import { HttpMetrics } from '../../src/http/http-metrics.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { IDLE_LOAD } from '../support/idle-metrics.js';

describe('ServerMetrics', () => {
  it('reads each load gauge, and the count of workers replaced as a counter, from its source when scraped', async () => {
    let inFlight = 1;
    const metrics = new ServerMetrics({
      inFlight: () => inFlight,
      queuedTasks: () => 2,
      memoryUsed: () => 3,
      memoryBudget: () => 512,
      workersLoaded: () => 2,
      workersBusy: () => 1,
      estimatedWaitMs: (priority) => (priority === 'interactive' ? 4000 : 9000),
      workersReplaced: () => 5,
      workersCrashed: () => 8,
      uploadBytesHeld: () => 6,
    });
    const scrape = async (): Promise<string[]> => (await metrics.registry.metrics()).split('\n').filter((l) => /^(?:# TYPE )?ocr_/.test(l));
    expect(await scrape()).to.include.members([
      'ocr_requests_in_flight 1',
      'ocr_queued_model_tasks 2',
      'ocr_memory_budget_used_bytes 3',
      'ocr_memory_budget_bytes 512',
      'ocr_workers 2',
      'ocr_workers_busy 1',
      'ocr_estimated_wait_seconds{priority="interactive"} 4',
      'ocr_estimated_wait_seconds{priority="batch"} 9',
      'ocr_workers_replaced_total 5',
      '# TYPE ocr_workers_replaced_total counter',
      'ocr_workers_crashed_total 8',
      'ocr_upload_bytes_held 6',
      'ocr_memory_releases_total{when="idle"} 0',
      'ocr_memory_releases_total{when="uploads"} 0',
    ]);
    inFlight = 7;
    expect(await scrape()).to.include('ocr_requests_in_flight 7');
  });

  it('times calls and stages from 5 ms to 60 s: a call that waited 30 s and ran, or hit the 60 s task cap, falls in a bucket, not +Inf', async () => {
    const metrics = new ServerMetrics(IDLE_LOAD);
    const http = new HttpMetrics(metrics.registry);
    metrics.latency.observe({ method: 'Recognize' }, 45);
    metrics.latency.observe({ method: 'GetServerInfo' }, 0.002);
    metrics.stage.observe({ stage: 'queue' }, 20);
    http.latency.observe({ route: '/api/ocr' }, 45);
    const text = await metrics.registry.metrics();
    expect(text).to.contain('ocr_request_duration_seconds_bucket{le="30",method="Recognize"} 0');
    expect(text).to.contain('ocr_request_duration_seconds_bucket{le="60",method="Recognize"} 1');
    expect(text).to.contain('ocr_request_duration_seconds_bucket{le="0.005",method="GetServerInfo"} 1');
    expect(text).to.contain('ocr_stage_duration_seconds_bucket{le="30",stage="queue"} 1');
    expect(text).to.contain('ocr_http_request_duration_seconds_bucket{le="60",route="/api/ocr"} 1');
  });

  it('times a non-OK answer apart from the OK ones, by method and code, in buckets between the 50 ms pace and the 100 ms promised', async () => {
    const metrics = new ServerMetrics(IDLE_LOAD);
    metrics.answeredNotOk('Recognize', 'RESOURCE_EXHAUSTED', performance.now() - 70);
    const text = await metrics.registry.metrics();
    expect(text).to.contain('ocr_requests_total{method="Recognize",code="RESOURCE_EXHAUSTED"} 1');
    expect(text).to.contain('ocr_request_error_duration_seconds_bucket{le="0.06",method="Recognize",code="RESOURCE_EXHAUSTED"} 0');
    expect(text).to.contain('ocr_request_error_duration_seconds_bucket{le="0.075",method="Recognize",code="RESOURCE_EXHAUSTED"} 1');
    expect(text).to.contain('ocr_request_error_duration_seconds_bucket{le="0.1",method="Recognize",code="RESOURCE_EXHAUSTED"} 1');
    expect(text).not.to.match(/^ocr_request_duration_seconds_count/m);
  });

  it('says the unit of every metric measured in seconds or bytes in its HELP, and which calls a latency times', async () => {
    const metrics = new ServerMetrics(IDLE_LOAD);
    new HttpMetrics(metrics.registry);
    const helps = (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('# HELP ocr_'));
    for (const help of helps) {
      const [, name, text] = /^# HELP (\S+) (.*)$/.exec(help)!;
      const unit = /_(seconds|bytes)(?:_|$)/.exec(name!)?.[1];
      if (unit) expect(text!.toLowerCase(), name).to.contain(unit);
    }
    expect(helps.find((h) => h.startsWith('# HELP ocr_request_duration_seconds '))).to.contain('OK answer');
    expect(helps.find((h) => h.startsWith('# HELP ocr_request_error_duration_seconds '))).to.contain('other than OK');
  });
});
