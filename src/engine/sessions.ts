import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { simplifyModel } from './graph-simplify.js';

export interface SessionOptions {
  /** onnxruntime's intra-op threads for this session. */
  threads: number;
  /**
   * onnxruntime's CPU arena keeps the peak allocation of the largest input for the life of the
   * session: on for inputs of bounded size, off where one large input would pin its memory.
   */
  memArena: boolean;
  /** Load the model through simplifyModel (same function, fewer element-wise passes). */
  simplify: boolean;
}

export type Session = ort.InferenceSession;

export async function createSession(file: string, options: SessionOptions): Promise<Session> {
  const bytes = readFileSync(file);
  const model = options.simplify ? simplifyModel(bytes).bytes : bytes;
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: options.memArena,
    // Spinning threads steal the core from the other workers of the pool.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
}

export interface FloatOutput {
  data: Float32Array;
  dims: readonly number[];
}

/** Run a single-input, single-output model and hand back its output as plain floats. */
export async function runSingle(session: Session, input: Float32Array, dims: number[]): Promise<FloatOutput> {
  const tensor = new ort.Tensor('float32', input, dims);
  const outputs = await session.run({ [session.inputNames[0]!]: tensor });
  const out = outputs[session.outputNames[0]!]!;
  const result = { data: out.data as Float32Array, dims: out.dims };
  tensor.dispose();
  return result;
}
