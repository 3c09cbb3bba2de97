/**
 * The refusal of an image whose bytes do not decode. Whether they were cut short on the way (an
 * upload or a copy that stopped early) or the file itself is damaged, the caller's next step is the
 * same: send the whole file, or, where it does not open elsewhere either, make it again.
 */
import { invalidArgument, type OcrError } from './errors.js';

const WHAT_TO_DO = 'send the whole file as it was saved, or, if it does not open in an image viewer either, export or scan it again';

/**
 * INVALID_ARGUMENT naming the format and what is wrong. `truncated`: whether the damage may be a
 * file cut short (false where only its header was read, and that header is malformed).
 */
export function corruptImage(format: string, why: string, truncated = true): OcrError {
  return invalidArgument(`${format.toUpperCase()} image is corrupt${truncated ? ' or truncated' : ''}: ${why}; ${WHAT_TO_DO}`);
}
