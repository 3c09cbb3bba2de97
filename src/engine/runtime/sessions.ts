import ort from 'onnxruntime-node';
import { asNative, type PhaseCell } from './worker-phase.js';

export interface SessionOptions {
  /** onnxruntime's intra-op threads for this session. */
  threads: number;
  /**
   * onnxruntime's CPU arena keeps the peak allocation of the largest input for the life of the
   * session: on for inputs of bounded size, off where one large input would pin its memory.
   */
  memArena: boolean;
}

export type Session = ort.InferenceSession;

/** This thread's phase cell (worker-phase.ts): every model call below is marked native in it. */
let phaseCell: PhaseCell | undefined;

export function markNativeCallsIn(cell: PhaseCell): void {
  phaseCell = cell;
}

/** Marked as a native call (worker-phase.ts): a worker making a session is never terminated. */
export async function createSession(model: Uint8Array, options: SessionOptions): Promise<Session> {
  return asNative(phaseCell, () =>
    ort.InferenceSession.create(model, {
      intraOpNumThreads: options.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: options.memArena,
      // A memory pattern is planned per input shape, and pages come in many: each new shape's block
      // was taken from the arena beside the old ones, which the arena keeps. Without it, resident
      // memory is 0.13-0.25 GB lower at every level at the same speed, and comes back after a run of
      // odd-sized attacks; a burst's other callers wait longer (docs/BENCHMARKS.md, Tried and kept).
      enableMemPattern: false,
      // Spinning threads steal the core from the other workers of the pool.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    }),
  );
}

export interface FloatOutput {
  data: Float32Array;
  dims: readonly number[];
}

/** Run a single-input model on `input`; its outputs by name. */
export async function runModel(session: Session, input: Float32Array, dims: number[]): Promise<Record<string, ort.Tensor>> {
  const tensor = new ort.Tensor('float32', input, dims);
  const outputs = await asNative(phaseCell, () => session.run({ [session.inputNames[0]!]: tensor }));
  tensor.dispose();
  return outputs;
}

/** Run a single-input, single-output model and hand back its output as plain floats. */
export async function runSingle(session: Session, input: Float32Array, dims: number[]): Promise<FloatOutput> {
  const out = (await runModel(session, input, dims))[session.outputNames[0]!]!;
  return { data: out.data as Float32Array, dims: out.dims };
}
