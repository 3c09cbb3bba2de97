import { Admission, type AdmissionConfig } from '../../src/engine/admission/admission.js';
import type { MemoryBudget } from '../../src/engine/admission/memory-budget.js';

/**
 * An admission that has measured one page of 1 detector megapixel at `msPerMpx` of worker time: a
 * page's estimate is then that, whatever the starting estimate (the first call measured replaces
 * it). The call is batch, so that it leaves no interactive load behind (interactiveShare).
 */
export async function measuredAdmission(budget: MemoryBudget, config: AdmissionConfig, msPerMpx = 1500): Promise<Admission> {
  const admission = new Admission(budget, config);
  const cost = { bytes: 0, encodedBytes: 0, kind: 'page', units: 1, what: 'a page' } as const;
  await admission.run(cost, { priority: 'batch' }, async (ticket) => ticket.spent(msPerMpx));
  return admission;
}
