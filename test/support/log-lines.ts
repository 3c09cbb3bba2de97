/** The JSON lines (pino's) of a process's output, each read as `T`; its plain lines left out. */
export function logLines<T = Record<string, unknown>>(output: string): T[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
}
