/**
 * `ocr prepare-models`: fill the model cache ahead of the first start (engine/runtime/model-cache.ts),
 * for instance while building a container image whose file system is read-only at run time.
 */
import { hasInt8DotProduct } from '../engine/runtime/cpu-features.js';
import { DEFAULT_MANIFEST, loadManifest } from '../engine/runtime/manifest.js';
import { defaultModelCacheDir, engineModelSpecs, prepareModel, type ModelPlan } from '../engine/runtime/model-cache.js';
import type { Precision } from '../engine/types.js';

export interface PrepareModelsOptions {
  /** Cache directory; unset: $OCR_MODEL_CACHE, else the package's .cache/models. */
  modelCache?: string;
  /** Model manifest; unset: the bundled models. */
  models?: string;
  /** The recognizer's precision; unset: the engine's default on this CPU. */
  recPrecision?: Precision;
  /** Every variant any CPU may ask for: the recognizer in float32 and in int8 with and without VNNI. */
  all?: boolean;
}

/** What `ocr serve` would run on this machine, or with `all` what it would on any. */
function plans(opts: PrepareModelsOptions): ModelPlan[] {
  if (opts.all) {
    return [
      { simplify: true, recPrecision: 'float32' },
      { simplify: true, recPrecision: 'int8', reduceRange: false },
      { simplify: true, recPrecision: 'int8', reduceRange: true },
    ];
  }
  // The engine's default (defaultEngineConfig): int8 where the CPU has VNNI.
  return [{ simplify: true, recPrecision: opts.recPrecision ?? (hasInt8DotProduct() ? 'int8' : 'float32') }];
}

/** Prints one line per model file: role, precision, what was done, path. Fails when the cache cannot be written. */
export async function prepareModelsCommand(opts: PrepareModelsOptions): Promise<number> {
  const cacheDir = opts.modelCache ?? defaultModelCacheDir();
  const manifest = loadManifest(opts.models ?? DEFAULT_MANIFEST);
  const seen = new Set<string>();
  try {
    for (const plan of plans(opts)) {
      for (const { role, file, spec } of engineModelSpecs(manifest, plan)) {
        const { source, outcome } = await prepareModel(file, spec, cacheDir, { strict: true });
        const where = source.cached ?? source.file;
        if (seen.has(where)) continue;
        seen.add(where);
        const variant = spec.precision === 'int8' ? `int8${spec.reduceRange ? ' (7-bit weights, no VNNI)' : ''}` : spec.precision;
        process.stdout.write(`${role}\t${variant}\t${outcome}\t${where}\n`);
      }
    }
    return 0;
  } catch (err) {
    process.stderr.write(`ocr prepare-models: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
