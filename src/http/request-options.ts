/**
 * Recognition options from an HTTP request: query parameters, multipart fields or a JSON object,
 * under the gRPC names (snake_case, or the lowerCamelCase of proto3's JSON). Types and ranges
 * (OPTION_RANGES) are checked here, with the same messages as over gRPC.
 */
import type { RecognizeOptions } from '../gen/ocr/v1/ocr.js';
import { checkOptionRanges, OPTION_RANGES } from '../server/convert.js';
import { shown } from '../shared/shown.js';
import { HttpError } from './failure.js';

type Kind = 'integer' | 'number' | 'boolean';

/** A numeric option's range, as the server checks it: "(32–8192)" after its description. */
const range = (name: keyof typeof OPTION_RANGES): string => ` (${OPTION_RANGES[name].min}–${OPTION_RANGES[name].max})`;

/** The gRPC name → the message field and its type. */
export const OPTION_FIELDS: Readonly<Record<string, { field: keyof RecognizeOptions; kind: Kind; description: string }>> = {
  max_side_len: {
    field: 'maxSideLen',
    kind: 'integer',
    description: `longest side of the image as the detector sees it${range('max_side_len')}`,
  },
  min_side_len: {
    field: 'minSideLen',
    kind: 'integer',
    description: `small images are scaled up to this shorter side before detection${range('min_side_len')}`,
  },
  box_threshold: {
    field: 'boxThreshold',
    kind: 'number',
    description: `detector box score below which a region is not text${range('box_threshold')}`,
  },
  unclip_ratio: { field: 'unclipRatio', kind: 'number', description: `how far detected boxes are expanded${range('unclip_ratio')}` },
  use_angle_cls: { field: 'useAngleCls', kind: 'boolean', description: 'turn upside-down lines before reading them' },
  auto_rotate: {
    field: 'autoRotate',
    kind: 'boolean',
    description: 'find how the page is turned (0, 90, 180 or 270°) and read it upright; the answer says it in rotation',
  },
  min_confidence: {
    field: 'minConfidence',
    kind: 'number',
    description: `lines read with lower confidence are left out${range('min_confidence')}`,
  },
};

/** Where a request's options came from, as its messages name it. */
export type OptionPlace = 'in the query' | 'as a form field' | 'in the JSON options';

/** A request's options and fields beside its images: its form fields, or its JSON `options`. */
export interface OptionSource {
  place: OptionPlace;
  values: Record<string, unknown>;
}

const BY_NAME = new Map<string, string>(
  Object.entries(OPTION_FIELDS).flatMap(([name, { field }]) => [
    [name, name],
    [field, name],
  ]),
);

/** The gRPC name of the option `key` names (either of its names), or undefined for none. */
export const optionName = (key: string): string | undefined => BY_NAME.get(key);

/**
 * A number as people write one: digits, a sign, a decimal point. Number() would also take hex
 * (0x400), exponents (1e3), blanks around it and Infinity: typos and encodings nobody means.
 */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

function parseValue(name: string, kind: Kind, raw: unknown): number | boolean {
  if (kind === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    // Any case: Python's str(True) is "True", and requests sends that; JSON's 1 and 0 as the query's "1" and "0".
    const text = typeof raw === 'string' ? raw.toLowerCase() : raw === 1 || raw === 0 ? String(raw) : undefined;
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
    throw new HttpError(400, 'INVALID_ARGUMENT', `option ${name} is ${shown(raw)}; send true or false`);
  }
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && DECIMAL.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(value) || (kind === 'integer' && !Number.isInteger(value))) {
    throw new HttpError(
      400,
      'INVALID_ARGUMENT',
      `option ${name} is ${shown(raw)}; send ${kind === 'integer' ? 'a whole number' : 'a number'}`,
    );
  }
  return value;
}

/**
 * Options from the query, then from the body (form fields or JSON `options`). Keys in `ignore`
 * (the request's own parameters, such as timeout_ms) are skipped; any other unknown key is
 * refused, so that a typo is not silently ignored, and so is an option given twice (under either of
 * its names, or a query parameter repeated, which the query parser gives as an array): which of
 * the two was meant is anyone's guess.
 */
export function parseOptions(
  query: Record<string, unknown>,
  body: OptionSource | undefined,
  ignore: ReadonlySet<string>,
): RecognizeOptions {
  const options: Record<string, number | boolean> = {};
  const placeOf = new Map<string, OptionPlace>();
  const twice = (name: string, first: OptionPlace, second: OptionPlace): HttpError =>
    new HttpError(
      400,
      'INVALID_ARGUMENT',
      `option ${name} came twice${first === second ? ` ${first}` : `, ${first} and ${second}`}; send it once`,
    );
  const sources: OptionSource[] = [{ place: 'in the query', values: query }, ...(body ? [body] : [])];
  for (const { place, values } of sources) {
    for (const [key, raw] of Object.entries(values)) {
      if (ignore.has(key) || raw === undefined) continue;
      const name = optionName(key);
      if (!name) {
        throw new HttpError(
          400,
          'INVALID_ARGUMENT',
          `unknown option ${shown(key)}; the options are ${Object.keys(OPTION_FIELDS).join(', ')}, beside the request's own ${[...ignore].join(' and ')}`,
        );
      }
      const earlier = placeOf.get(name);
      if (earlier) throw twice(name, earlier, place);
      if (place === 'in the query' && Array.isArray(raw)) throw twice(name, place, place);
      placeOf.set(name, place);
      const { field, kind } = OPTION_FIELDS[name]!;
      options[field] = parseValue(name, kind, raw);
    }
  }
  checkOptionRanges(options as RecognizeOptions);
  return options as RecognizeOptions;
}
