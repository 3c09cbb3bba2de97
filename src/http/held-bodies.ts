/**
 * What the request bodies a server has read and not yet answered hold together: on `ocr gateway`,
 * the images on their way to the cluster. Nothing bounded them: a hundred clients posting a 30 MB
 * scan each took a gateway over two instances from 79 MB to 9.1 GB (the body, the SDK's encoded
 * request and its frames, each held until the cluster answered; docs/BENCHMARKS.md, "HTTP under
 * overload"). An instance needs no such bound: its admission refuses what its memory budget cannot
 * hold. A request is refused from its headers (429, held a second like any other: refusal-hold.ts)
 * when the bound is full or the length it declares would not fit, on arrival and again at its upload
 * turn; one whose body, once read, does not fit (sent without a length, or others read meanwhile) is
 * refused then.
 */
import { Gauge, type Registry } from 'prom-client';
import { MemoryBudget, type Reservation } from '../engine/index.js';
import { loadRefusal, type OcrError } from '../shared/errors.js';

/** When to come back: the cluster answers a page in about a second. */
const RETRY_MS = 1000;

const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);

export class HeldBodies {
  private readonly budget: MemoryBudget;
  /** Called when the last body held is released: the server may give memory back (memory-trim.ts). */
  onEmpty: (() => void) | undefined;

  /** `registry`: where `ocr_gateway_body_bytes_held` is reported. */
  constructor(
    readonly limitBytes: number,
    registry?: Registry,
  ) {
    this.budget = new MemoryBudget(limitBytes);
    if (!registry) return;
    const bodies = this.budget;
    new Gauge({
      name: 'ocr_gateway_body_bytes_held',
      help: `Bytes of request bodies read and not yet answered; past ${mib(limitBytes)} MiB a new request is refused 429`,
      registers: [registry],
      collect() {
        this.set(bodies.usedBytes);
      },
    });
    new Gauge({
      name: 'ocr_gateway_body_limit_bytes',
      help: 'Bytes the request bodies read and not yet answered may hold (--body-memory-mb): ocr_gateway_body_bytes_held over this is the share in use',
      registers: [registry],
    }).set(limitBytes);
  }

  get heldBytes(): number {
    return this.budget.usedBytes;
  }

  /**
   * The refusal for a request whose body of `declaredBytes` (its Content-Length; 0 when it sends
   * none) is about to be read, or null while there is room for it. Read whole before it was refused,
   * a 30 MB upload that could not fit cost the gateway its bytes for nothing.
   */
  refusalBeforeBody(declaredBytes: number): OcrError | null {
    const full = this.heldBytes >= this.limitBytes || this.heldBytes + Math.min(declaredBytes, this.limitBytes) > this.limitBytes;
    return full ? this.refusal() : null;
  }

  /** Holds `bytes` until `release`, or throws the refusal when they do not fit. */
  hold(bytes: number): Reservation {
    const held = this.budget.tryReserve(Math.min(bytes, this.limitBytes));
    if (!held) throw this.refusal();
    return {
      bytes: held.bytes,
      release: () => {
        held.release();
        if (this.heldBytes === 0) this.onEmpty?.();
      },
    };
  }

  private refusal(): OcrError {
    return loadRefusal(
      `this gateway holds ${mib(this.heldBytes)} MiB of requests waiting for its cluster's answers, its limit of ${mib(this.limitBytes)} MiB: ` +
        `send it again in a second, or through another gateway`,
      RETRY_MS,
    );
  }
}
