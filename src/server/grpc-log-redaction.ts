/**
 * grpc-js writes some lines of its own to stderr that may hold a call's headers: a metadata value
 * it cannot carry ("Failed to add metadata entry authorization: Bearer …", at its default ERROR
 * verbosity: a mistyped token with one non-ASCII character would be printed whole), and its traces
 * (GRPC_TRACE) print received headers. Its logger is replaced, once per process, by one that
 * writes the same lines with every `authorization` value blanked, and without the one line that
 * only repeats an error its caller is given: a port it cannot bind ("No address added out of total 1
 * resolved"), which `ocr serve` says in the operator's terms (bind-failure.ts) right after it.
 */
import { setLogger } from '@grpc/grpc-js';

const REDACTED = '[redacted]';

/** `authorization: VALUE. `, `"authorization":"VALUE"`, `authorization=VALUE`, and grpc-js's quote of the value it refused. */
export function redactAuthorization(text: string): string {
  return text
    .replace(/(authorization"?\s*[:=]\s*")[^"]*"/gi, `$1${REDACTED}"`)
    .replace(/(authorization\s*[:=]\s*)(?!")[^\n]*?(?=\. Metadata|\.\s|$)/gi, `$1${REDACTED}`)
    .replace(/(Metadata string value ")[^"]*(")/g, `$1${REDACTED}$2`);
}

/** grpc-js's line before bindAsync fails with the same words and the errors that say why. */
const REPEATED_BIND_ERROR = /^No address added out of total \d+ resolved$/;

let installed = false;

export function redactGrpcLogs(): void {
  if (installed) return;
  installed = true;
  const write =
    (prefix: string) =>
    (message?: unknown, ...rest: unknown[]): void =>
      console.error(
        prefix + redactAuthorization(String(message)),
        ...rest.map((r) => (typeof r === 'string' ? redactAuthorization(r) : r)),
      );
  const writeError = write('E ');
  const error = (message?: unknown, ...rest: unknown[]): void => {
    if (rest.length === 0 && REPEATED_BIND_ERROR.test(String(message))) return;
    writeError(message, ...rest);
  };
  setLogger({ error, info: write('I '), debug: write('D ') });
}
