import { readFileSync } from 'node:fs';

/** The project's version (package.json), as servers and gateways report it. */
export const SERVER_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
