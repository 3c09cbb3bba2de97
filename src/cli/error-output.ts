/**
 * What the command line prints of its errors. Commander quotes the value of an option it refuses,
 * whole, and a start's failure names what it could not use (`--jwks URL`, `--consul`,
 * CONSUL_HTTP_ADDR): a URL's password (`--cache redis://user:PASSWORD@host/x`) would reach the
 * terminal, a CI log or a supervisor's journal. Each URL's password is blanked, as the server's logs blank it.
 */
export function withoutPasswords(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:@/'"]*:)[^\s@/'"]+@/gi, '$1***@');
}

/** The line a failed command ends with: its error's message, passwords blanked. */
export const failureLine = (err: unknown): string => `ocr: ${withoutPasswords(err instanceof Error ? err.message : String(err))}\n`;
