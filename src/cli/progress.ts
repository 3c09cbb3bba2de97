/**
 * Where `ocr recognize` writes: stdout for results, stderr for failures, and an optional progress
 * bar on stderr that the other writes must not tear.
 */

import cliProgress from 'cli-progress';

export interface Output {
  /** A result, for stdout. */
  out(text: string): void;
  /** A failure or warning, for stderr. */
  err(text: string): void;
  /** One more file done. */
  tick(): void;
  /** Removes the bar; call once, after the last write. */
  stop(): void;
}

export function plainOutput(): Output {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    tick: () => undefined,
    stop: () => undefined,
  };
}

/** A bar counting files on stderr (a TTY). Text for the same terminal goes through the bar's log. */
export function progressOutput(total: number): Output {
  const bars = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: 'recognizing {bar} {value}/{total} files | {duration_formatted} elapsed, eta {eta_formatted}',
      clearOnComplete: true,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  // The bar hides the cursor and turns line wrapping off: ended by Ctrl-C as it stood, the process
  // left the terminal so. The terminal is put back first, then the process ends as the signal ends it.
  // Taken before the bar's first write: a signal after it and before these would end the process at once.
  const interrupted = (signal: NodeJS.Signals): void => {
    bars.stop();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const bar = bars.create(total, 0);
  // Writing to the terminal under the bar would leave bar fragments in the text, so such text is
  // logged by the bar (which redraws below it); redirected stdout is not on screen and goes straight.
  const toStdout = process.stdout.isTTY ? (text: string) => bars.log(text) : (text: string) => void process.stdout.write(text);
  return {
    out: toStdout,
    err: (text) => bars.log(text),
    tick: () => bar.increment(),
    stop: () => {
      process.removeListener('SIGINT', interrupted);
      process.removeListener('SIGTERM', interrupted);
      // stop() drops text still waiting in the log buffer; a last redraw writes it first.
      bars.update();
      bars.stop();
    },
  };
}
