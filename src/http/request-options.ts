/**
 * Recognition options from an HTTP request: query parameters, multipart fields or a JSON object,
 * under the gRPC names (snake_case, or the lowerCamelCase of proto3's JSON). Types are checked
 * here; ranges by the server, with the same messages as over gRPC.
 */
import type { RecognizeOptions } from '../gen/ocr/v1/ocr.js';
import { HttpError } from './failure.js';

type Kind = 'integer' | 'number' | 'boolean';

/** The gRPC name → the message field and its type. */
export const OPTION_FIELDS: Readonly<Record<string, { field: keyof RecognizeOptions; kind: Kind; description: string }>> = {
  max_side_len: { field: 'maxSideLen', kind: 'integer', description: 'longest side of the image as the detector sees it (32–8192)' },
  min_side_len: {
    field: 'minSideLen',
    kind: 'integer',
    description: 'small images are scaled up to this shorter side before detection (0–4096)',
  },
  box_threshold: { field: 'boxThreshold', kind: 'number', description: 'detector box score below which a region is not text (0–1)' },
  unclip_ratio: { field: 'unclipRatio', kind: 'number', description: 'how far detected boxes are expanded (0.5–4)' },
  use_angle_cls: { field: 'useAngleCls', kind: 'boolean', description: 'turn upside-down lines before reading them' },
  auto_rotate: {
    field: 'autoRotate',
    kind: 'boolean',
    description: 'find how the page is turned (0, 90, 180 or 270°) and read it upright; the answer says it in rotation',
  },
  min_confidence: { field: 'minConfidence', kind: 'number', description: 'lines read with lower confidence are left out (0–1)' },
};

const BY_NAME = new Map<string, string>(
  Object.entries(OPTION_FIELDS).flatMap(([name, { field }]) => [
    [name, name],
    [field, name],
  ]),
);

function parseValue(name: string, kind: Kind, raw: unknown): number | boolean {
  if (kind === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new HttpError(400, 'INVALID_ARGUMENT', `option ${name} is '${String(raw)}'; send true or false`);
  }
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(value) || (kind === 'integer' && !Number.isInteger(value))) {
    throw new HttpError(
      400,
      'INVALID_ARGUMENT',
      `option ${name} is '${String(raw)}'; send ${kind === 'integer' ? 'a whole number' : 'a number'}`,
    );
  }
  return value;
}

/**
 * Options from each source in turn (a later one wins). Keys in `ignore` (the request's own
 * parameters, such as timeout_ms) are skipped; any other unknown key is refused, so that a typo is
 * not silently ignored.
 */
export function parseOptions(sources: readonly Record<string, unknown>[], ignore: ReadonlySet<string>): RecognizeOptions {
  const options: Record<string, number | boolean> = {};
  for (const source of sources) {
    for (const [key, raw] of Object.entries(source)) {
      if (ignore.has(key) || raw === undefined) continue;
      const name = BY_NAME.get(key);
      if (!name) {
        throw new HttpError(400, 'INVALID_ARGUMENT', `unknown option '${key}'; the options are ${Object.keys(OPTION_FIELDS).join(', ')}`);
      }
      const { field, kind } = OPTION_FIELDS[name]!;
      options[field] = parseValue(name, kind, raw);
    }
  }
  return options as RecognizeOptions;
}
