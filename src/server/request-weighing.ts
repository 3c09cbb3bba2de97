/**
 * A request weighed for load from its headers, before its body is read: the one rule for gRPC calls
 * (early-refusal.ts) and HTTP requests (src/http/app.ts). It is refused when the wait ahead leaves no
 * room in its deadline for a typical request of its kind (Admission.refusalBeforeRequest); one let
 * in counts as a typical request ahead of later arrivals until its body has been read
 * (Admission.promise). How long a refusal is held is each transport's (refusal-pace.ts,
 * src/http/refusal-hold.ts).
 */
import type { Admission, CallPriority, WorkKind } from '../engine/index.js';
import type { OcrError } from '../shared/errors.js';

/** Let in: `unpromise` once its body has been read, or it ended first. */
export interface LetIn {
  refusal: null;
  unpromise: () => void;
}

/** Refused for load: RESOURCE_EXHAUSTED with its hints. */
export interface Refused {
  refusal: OcrError;
}

export type Weighing = LetIn | Refused;

export interface WeighedRequest {
  kind: WorkKind;
  priority: CallPriority;
  /** Date.now() milliseconds; undefined: none. */
  deadline: number | undefined;
  /** On arrival, or at its upload turn after waiting for it. */
  arriving: boolean;
}

export function weighRequest(admission: Admission, request: WeighedRequest): Weighing {
  const { kind, priority, deadline, arriving } = request;
  const refusal = admission.refusalBeforeRequest(priority, deadline, kind, { arriving });
  return refusal ? { refusal } : { refusal: null, unpromise: admission.promise(priority, kind) };
}
