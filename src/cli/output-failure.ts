/**
 * What `ocr` does when its own output cannot be written: the reader of a pipe went away
 * (`ocr recognize --json *.jpg | head -1`), or the file it is redirected to cannot take more (a
 * full disk). Node would throw the write's error unhandled, a stack trace in place of a message.
 */
import os from 'node:os';

export interface OutputFailure {
  status: number;
  /** For stderr; absent where there is nothing to tell or nowhere left to tell it. */
  message?: string;
}

/** 141, what a shell reports for a process SIGPIPE ended, as `cat` or `yes` end in the same place. */
export const BROKEN_PIPE_STATUS = 128 + os.constants.signals.SIGPIPE;

/** How to end once `stream` failed with `err`. */
export function outputFailure(stream: 'stdout' | 'stderr', err: NodeJS.ErrnoException): OutputFailure {
  // The reader has what it wanted (head, grep -q) or has gone: ending quietly is what it expects.
  if (err.code === 'EPIPE') return { status: BROKEN_PIPE_STATUS };
  // With stderr failing too, a message would fail in turn.
  if (stream === 'stderr') return { status: 1 };
  return {
    status: 1,
    message: `ocr: cannot write to stdout (${err.message}): the output is incomplete; make room, or send it elsewhere\n`,
  };
}
