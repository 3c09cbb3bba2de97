/** The scopes a token may carry, and what each lets its holder call. */

/** Recognize, RecognizeLines, RecognizeTiles and /api/ocr*; GetServerInfo, /api/info and reflection while they are protected. */
export const READ_SCOPE = 'ocr:read';
/** /metrics (and --metrics-port) while they are protected. */
export const ADMIN_SCOPE = 'ocr:admin';

export const SCOPES = [READ_SCOPE, ADMIN_SCOPE] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}
