import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DbParams } from '../detect/db-postprocess.js';

export type ChannelOrder = 'RGB' | 'BGR';

export interface DetectorSpec {
  file: string;
  version: string;
  mean: [number, number, number];
  std: [number, number, number];
  channelOrder: ChannelOrder;
  /** The detector's input sides must be multiples of this. */
  sizeMultiple: number;
  /** Longest side the image is scaled down to before detection. */
  maxSideLen: number;
  minSideLen: number;
  db: DbParams;
}

export interface ClassifierSpec {
  file: string;
  version: string;
  inputHeight: number;
  inputWidth: number;
  /** Rotation in degrees for each output class. */
  labels: number[];
  threshold: number;
  channelOrder: ChannelOrder;
}

export interface RecognizerSpec {
  file: string;
  version: string;
  inputHeight: number;
  /** Whole line images are padded to at least this width, as the model was trained. */
  minWidth: number;
  maxWidth: number;
  channelOrder: ChannelOrder;
  dictionary: string;
  /** PaddleOCR's recognizers add a space class after the dictionary. */
  appendSpace: boolean;
  blankIndex: number;
}

export interface ModelManifest {
  name: string;
  description: string;
  det: DetectorSpec;
  cls: ClassifierSpec | null;
  rec: RecognizerSpec;
  /** Absolute paths, resolved at load time. */
  paths: { det: string; cls: string | null; rec: string; dictionary: string };
}

interface ManifestFile extends Omit<ModelManifest, 'paths' | 'cls'> {
  package?: string;
  cls?: ClassifierSpec;
}

export const DEFAULT_MANIFEST = fileURLToPath(new URL('../../../../models/ppocr-v4.json', import.meta.url));

/**
 * Files are relative to the npm package the manifest names, else to the manifest's own folder. The
 * package is looked for from the manifest, then from this installation: a copy of the bundled
 * manifest, edited outside it (`ocr serve --models /etc/ocr/models.json`), was told to install a
 * package the installation holds.
 */
function baseDir(manifestPath: string, pkg: string | undefined): string {
  if (!pkg) return path.dirname(manifestPath);
  // The package's exports map may hide package.json, so look for its folder along Node's search paths.
  for (const from of [manifestPath, DEFAULT_MANIFEST]) {
    for (const dir of createRequire(from).resolve.paths(pkg) ?? []) {
      if (existsSync(path.join(dir, pkg, 'package.json'))) return path.join(dir, pkg);
    }
  }
  throw new Error(`model package ${pkg} is not installed (npm install ${pkg})`);
}

export function loadManifest(manifestPath: string = DEFAULT_MANIFEST): ModelManifest {
  const absolute = path.resolve(manifestPath);
  let parsed: ManifestFile;
  try {
    parsed = JSON.parse(readFileSync(absolute, 'utf8')) as ManifestFile;
  } catch (err) {
    throw new Error(`cannot read model manifest ${absolute}: ${(err as Error).message}`, { cause: err });
  }
  for (const key of ['name', 'det', 'rec'] as const) {
    if (!parsed[key]) throw new Error(`model manifest ${absolute} lacks "${key}"`);
  }
  const base = baseDir(absolute, parsed.package);
  // Missing, a file failed far from here, as "ENOENT: no such file or directory, stat '…'", naming no manifest.
  const resolve = (file: string): string => {
    const found = path.resolve(base, file);
    if (!existsSync(found))
      throw new Error(`model manifest ${absolute} names ${file}, which is not there (${found}): correct its path, relative to ${base}`);
    return found;
  };
  return {
    name: parsed.name,
    description: parsed.description ?? '',
    det: parsed.det,
    cls: parsed.cls ?? null,
    rec: parsed.rec,
    paths: {
      det: resolve(parsed.det.file),
      cls: parsed.cls ? resolve(parsed.cls.file) : null,
      rec: resolve(parsed.rec.file),
      dictionary: resolve(parsed.rec.dictionary),
    },
  };
}

/** The recognizer's dictionary: one symbol per line (a trailing newline adds no symbol). */
export function readDictionary(manifest: ModelManifest): string[] {
  const lines = readFileSync(manifest.paths.dictionary, 'utf8').split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
