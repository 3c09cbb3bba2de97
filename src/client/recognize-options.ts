/**
 * The RecognizeOptions a caller passes, checked before anything is sent. The generated encoder
 * fails a value its field cannot carry (a negative or fractional uint32, text in a float) with
 * grpc-js's INTERNAL "Request message serialization failure", a status that reads as a server
 * fault; it sends any truthy value of a bool as true (an environment variable's "false" included);
 * and it drops an unknown key without a word (a typo, or call settings passed as options). The
 * ranges are the server's to check: it refuses a value outside them with INVALID_ARGUMENT, naming
 * the range.
 */
import type { RecognizeOptions } from '../gen/ocr/v1/ocr.js';
import { kindOf } from './image-bytes.js';

type Kind = 'whole' | 'number' | 'boolean';

const KINDS: Readonly<Record<keyof RecognizeOptions, Kind>> = {
  maxSideLen: 'whole',
  minSideLen: 'whole',
  boxThreshold: 'number',
  unclipRatio: 'number',
  minConfidence: 'number',
  useAngleCls: 'boolean',
  autoRotate: 'boolean',
};

const FIELDS = Object.keys(KINDS).join(', ');

/** What the wire carries: uint32 for whole numbers, float32 for the others. */
const MAX_UINT32 = 2 ** 32 - 1;
const MAX_FLOAT32 = 3.4028234663852886e38;

const WANTED: Readonly<Record<Kind, string>> = {
  whole: 'a whole number of pixels',
  number: 'a number',
  boolean: 'true or false',
};

const shown = (value: unknown): string => (typeof value === 'string' ? `the string ${JSON.stringify(value)}` : kindOf(value));

/** Why `value` cannot be sent as a field of `kind` (what was passed, and the error class that says so), or null where it can. */
function misfit(kind: Kind, value: unknown): { got: string; Error: typeof TypeError | typeof RangeError } | null {
  if (kind === 'boolean') return typeof value === 'boolean' ? null : { got: shown(value), Error: TypeError };
  if (typeof value !== 'number') {
    return { got: `${shown(value)}${typeof value === 'string' ? ': pass Number(text)' : ''}`, Error: TypeError };
  }
  const fits =
    kind === 'whole'
      ? Number.isInteger(value) && value >= 0 && value <= MAX_UINT32
      : !(Math.abs(value) > MAX_FLOAT32 && Number.isFinite(value));
  return fits ? null : { got: String(value), Error: RangeError };
}

/**
 * `options` as sent: its fields checked, those unset (undefined or null) left out; undefined for
 * none (undefined or null). Throws a TypeError or RangeError that names the field and says what it takes.
 */
export function checkRecognizeOptions(options: RecognizeOptions | null | undefined): RecognizeOptions | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`options must be an object of recognition options (${FIELDS}), got ${kindOf(options)}`);
  }
  const checked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    const kind = Object.hasOwn(KINDS, key) ? KINDS[key as keyof RecognizeOptions] : undefined;
    if (kind === undefined) {
      throw new RangeError(
        `options.${key} is not a recognition option (they are ${FIELDS}); call settings (deadlineMs, signal, priority, …) are not: pass them as the call's settings`,
      );
    }
    if (value === undefined || value === null) continue;
    const wrong = misfit(kind, value);
    if (wrong) throw new wrong.Error(`options.${key} must be ${WANTED[kind]}, got ${wrong.got}`);
    checked[key] = value;
  }
  return checked as RecognizeOptions;
}
