/**
 * The models as the engine runs them (onnx-graph/rewrite.ts), rewritten once and kept as files.
 *
 * Rewriting a model takes a noticeable part of a start, and its result depends only on the shipped
 * file's bytes, the rewrite's options (the CPU's int8 arithmetic among them) and the rewriting
 * code. So the main thread rewrites each model once, writes it to the cache directory under a hash
 * of all of these, and the workers, and every later start, load that file. A directory that cannot
 * be written (a read-only image whose cache was not prepared) costs a rewrite in memory, once per
 * start; the workers then get the bytes. The rewriting code is loaded only on a miss: a start from
 * the cache does not load it (nor its protobuf library) on any thread.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
import { makeDirectories } from '../../shared/make-directories.js';
import { hasInt8DotProduct } from './cpu-features.js';
import { rewrites, type RewriteSpec } from '../onnx-graph/rewrite-spec.js';
import type { ModelManifest } from './manifest.js';
import type { Precision } from '../types.js';

/** Overrides the default cache directory; `ocr serve --model-cache` and EngineConfig.modelCacheDir override it. */
export const MODEL_CACHE_ENV = 'OCR_MODEL_CACHE';

/** `.cache/models` at the repository (or installed package) root. */
const PACKAGE_CACHE_DIR = fileURLToPath(new URL('../../../../.cache/models', import.meta.url));

export function defaultModelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env[MODEL_CACHE_ENV] || PACKAGE_CACHE_DIR;
}

let codeHash: string | undefined;

/**
 * The rewrite's version: a hash of the compiled rewriting code (every module of onnx-graph/), so
 * that no change to a rewrite can leave a stale file in use.
 */
export function rewriteVersion(): string {
  if (codeHash) return codeHash;
  const dir = fileURLToPath(new URL('../onnx-graph/', import.meta.url));
  const hash = createHash('sha256');
  for (const name of readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .sort())
    hash.update(name).update(readFileSync(path.join(dir, name)));
  codeHash = hash.digest('hex');
  return codeHash;
}

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/** A shipped model's digest, as the cache key takes it. */
export const modelDigest = (shipped: Uint8Array): string => sha256(shipped);

/** What a shipped file was when its digest was taken: any change to it changes one of these (ctime even for a restored mtime). */
interface FileIdentity {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

/** The cache directory's index of shipped files' digests, so that a start from the cache neither reads nor hashes them (16 MB: about 95 ms). */
const DIGESTS_FILE = 'shipped-digests.json';

const identity = (file: string): FileIdentity => {
  const { size, mtimeMs, ctimeMs, ino } = statSync(file);
  return { size, mtimeMs, ctimeMs, ino };
};

function readDigests(cacheDir: string): Record<string, FileIdentity & { digest: string }> {
  try {
    return JSON.parse(readFileSync(path.join(cacheDir, DIGESTS_FILE), 'utf8')) as Record<string, FileIdentity & { digest: string }>;
  } catch {
    return {}; // none yet, or unreadable: every file is read and hashed, and the index written again
  }
}

/**
 * The digest of `file`, from the index where the file is as it was when hashed; else read and
 * hashed (its bytes returned, for a rewrite), and the index updated where it can be written.
 */
export function shippedDigest(file: string, cacheDir: string): { digest: string; bytes?: Uint8Array } {
  const where = path.resolve(file);
  const now = identity(where);
  const digests = readDigests(cacheDir);
  const known = digests[where];
  if (known && known.size === now.size && known.mtimeMs === now.mtimeMs && known.ctimeMs === now.ctimeMs && known.ino === now.ino) {
    return { digest: known.digest };
  }
  const bytes = readFileSync(where);
  const digest = modelDigest(bytes);
  try {
    writeAtomically(path.join(cacheDir, DIGESTS_FILE), Buffer.from(JSON.stringify({ ...digests, [where]: { ...now, digest } })));
  } catch {
    // A directory that cannot be written: prepareModel says so for the model itself.
  }
  return { digest, bytes };
}

async function rewritten(shipped: Uint8Array, spec: RewriteSpec): Promise<Uint8Array> {
  const { rewriteModel } = await import('../onnx-graph/rewrite.js');
  return rewriteModel(shipped, spec);
}

/** A hash of everything the rewritten model depends on. */
export function cacheKey(digest: string, spec: RewriteSpec, version: string = rewriteVersion()): string {
  return sha256(
    JSON.stringify({
      version,
      model: digest,
      simplify: spec.simplify,
      precision: spec.precision,
      greedyHead: spec.greedyHead,
      // Float models are the same on every CPU: one file serves them all.
      reduceRange: spec.precision === 'int8' ? spec.reduceRange : null,
    }),
  );
}

/** `<shipped name>.<precision>.<key>.onnx`: readable in a listing, unique by the key. */
export function cacheFileName(file: string, digest: string, spec: RewriteSpec): string {
  return `${path.basename(file, '.onnx')}.${spec.precision}.${cacheKey(digest, spec).slice(0, 32)}.onnx`;
}

/**
 * Write `bytes` to `target` so that no reader ever sees part of it: into a file of this process and
 * thread alone, flushed, then renamed over the target (rename is atomic within a directory). Two
 * writers of one target write the same bytes; the last rename wins.
 */
export function writeAtomically(target: string, bytes: Uint8Array): void {
  makeDirectories(path.dirname(target));
  const temp = `${target}.${process.pid}-${threadId}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, 'wx');
    try {
      writeFileSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (err) {
    try {
      rmSync(temp, { force: true });
    } catch {
      // Never created, or the directory refuses removal as it refused the write: the write's error says why.
    }
    throw err;
  }
}

/** Where a worker finds a model as it runs it. */
export interface ModelSource {
  /** The model as shipped. */
  file: string;
  spec: RewriteSpec;
  /** The rewritten model in the cache; null: the shipped file runs as it is, or `bytes` hold the rewrite. */
  cached: string | null;
  /** The rewrite, where the cache could not take it. */
  bytes?: Uint8Array;
}

/** as shipped: nothing to rewrite; cached: found in the cache; written: rewritten into it; in memory: rewritten, not cached. */
export type PrepareOutcome = 'as shipped' | 'cached' | 'written' | 'in memory';

export interface PreparedModel {
  source: ModelSource;
  outcome: PrepareOutcome;
  /** Why an 'in memory' rewrite was not cached. */
  reason?: string;
}

export interface PrepareOptions {
  /** Throw when the cache cannot be written, instead of keeping the rewrite in memory. */
  strict?: boolean;
}

function isCacheFile(file: string): boolean {
  try {
    const stat = statSync(file);
    return stat.isFile() && stat.size > 0;
  } catch {
    // Absent, or a directory that cannot be looked into: a miss either way.
    return false;
  }
}

/** The model of `file` rewritten by `spec`: found in `cacheDir`, else rewritten and written there (null: no cache). */
export async function prepareModel(
  file: string,
  spec: RewriteSpec,
  cacheDir: string | null,
  options: PrepareOptions = {},
): Promise<PreparedModel> {
  if (!rewrites(spec)) return { source: { file, spec, cached: null }, outcome: 'as shipped' };
  if (cacheDir === null)
    return {
      source: { file, spec, cached: null, bytes: await rewritten(readFileSync(file), spec) },
      outcome: 'in memory',
      reason: 'no cache directory',
    };
  const shipped = shippedDigest(file, cacheDir);
  const cached = path.resolve(cacheDir, cacheFileName(file, shipped.digest, spec));
  if (isCacheFile(cached)) return { source: { file, spec, cached }, outcome: 'cached' };
  const bytes = await rewritten(shipped.bytes ?? readFileSync(file), spec);
  try {
    writeAtomically(cached, bytes);
    return { source: { file, spec, cached }, outcome: 'written' };
  } catch (err) {
    const reason = `cannot write ${cached}: ${(err as Error).message}`;
    if (options.strict) throw new Error(reason, { cause: err });
    return { source: { file, spec, cached: null, bytes }, outcome: 'in memory', reason };
  }
}

/**
 * A model's bytes in a worker. A cache file removed since it was prepared is rewritten again, here,
 * rather than failing the worker.
 */
export async function loadModel(source: ModelSource): Promise<Uint8Array> {
  if (source.bytes) return source.bytes;
  if (source.cached) {
    try {
      return readFileSync(source.cached);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return rewritten(readFileSync(source.file), source.spec);
}

export type ModelRole = 'det' | 'cls' | 'rec';

export interface EngineModels {
  det: ModelSource;
  cls: ModelSource | null;
  rec: ModelSource;
}

export interface ModelPlan {
  simplify: boolean;
  recPrecision: Precision;
  /** Whether int8 weights take 7 bits (QuantizeOptions); unset: as this CPU needs. */
  reduceRange?: boolean;
}

/** The engine's models and their rewrites: the recognizer in its precision with the greedy head, the others in float32. */
export function engineModelSpecs(manifest: ModelManifest, plan: ModelPlan): { role: ModelRole; file: string; spec: RewriteSpec }[] {
  const reduceRange = plan.reduceRange ?? !hasInt8DotProduct();
  const float: RewriteSpec = { simplify: plan.simplify, precision: 'float32', greedyHead: false, reduceRange };
  return [
    { role: 'det', file: manifest.paths.det, spec: float },
    ...(manifest.paths.cls ? [{ role: 'cls' as const, file: manifest.paths.cls, spec: float }] : []),
    { role: 'rec', file: manifest.paths.rec, spec: { ...float, precision: plan.recPrecision, greedyHead: true } },
  ];
}

/** Prepare the engine's models before its workers start, so that they load rather than rewrite them. */
export async function prepareEngineModels(
  manifest: ModelManifest,
  plan: ModelPlan & { cacheDir: string | null },
  options: PrepareOptions = {},
): Promise<{ models: EngineModels; prepared: (PreparedModel & { role: ModelRole })[] }> {
  const prepared: (PreparedModel & { role: ModelRole })[] = [];
  for (const { role, file, spec } of engineModelSpecs(manifest, plan))
    prepared.push({ role, ...(await prepareModel(file, spec, plan.cacheDir, options)) });
  const source = (role: ModelRole): ModelSource | undefined => prepared.find((p) => p.role === role)?.source;
  return { models: { det: source('det')!, cls: source('cls') ?? null, rec: source('rec')! }, prepared };
}

/**
 * For each model the engine runs and for its dictionary, a hash of what runs: the shipped bytes and
 * their rewrite (cacheKey: simplification, precision, 7-bit int8 weights on a CPU without VNNI, the
 * rewriting code). It changes where new weights come under an old file name and version, which the
 * manifest's version strings do not (the result cache keys answers by it). From the digests' index
 * where there is a cache directory; else each file is read and hashed (16 MB: about 95 ms).
 */
export function runModelKeys(manifest: ModelManifest, plan: ModelPlan & { cacheDir: string | null }): Record<string, string> {
  const digest = (file: string): string => (plan.cacheDir ? shippedDigest(file, plan.cacheDir).digest : modelDigest(readFileSync(file)));
  const keys: Record<string, string> = {};
  for (const { role, file, spec } of engineModelSpecs(manifest, plan)) keys[role] = cacheKey(digest(file), spec);
  keys.dictionary = sha256(readFileSync(manifest.paths.dictionary));
  return keys;
}
