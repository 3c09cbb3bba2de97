import { expect } from 'chai';
import { ServerMetrics } from '../../src/server/metrics.js';

describe('ServerMetrics', () => {
  it('reads each load gauge, and the count of workers replaced as a counter, from its source when scraped', async () => {
    let inFlight = 1;
    const metrics = new ServerMetrics({
      inFlight: () => inFlight,
      queuedTasks: () => 2,
      memoryUsed: () => 3,
      estimatedWaitMs: (priority) => (priority === 'interactive' ? 4000 : 9000),
      workersReplaced: () => 5,
      uploadBytesHeld: () => 6,
    });
    const scrape = async (): Promise<string[]> => (await metrics.registry.metrics()).split('\n').filter((l) => /^(?:# TYPE )?ocr_/.test(l));
    expect(await scrape()).to.include.members([
      'ocr_requests_in_flight 1',
      'ocr_queued_model_tasks 2',
      'ocr_memory_budget_used_bytes 3',
      'ocr_estimated_wait_seconds{priority="interactive"} 4',
      'ocr_estimated_wait_seconds{priority="batch"} 9',
      'ocr_workers_replaced_total 5',
      '# TYPE ocr_workers_replaced_total counter',
      'ocr_upload_bytes_held 6',
    ]);
    inFlight = 7;
    expect(await scrape()).to.include('ocr_requests_in_flight 7');
  });
});
