/** Whether `host` is a wildcard address (0.0.0.0, ::): one to listen on, never one to dial or register. */
export const isWildcardHost = (host: string): boolean => host === '0.0.0.0' || host === '::' || host === '[::]';
