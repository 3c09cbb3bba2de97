/** `ocr gateway`: the HTTP API and Web UI for a whole cluster, answered through the SDK. */
import { createLogger, flushLogs } from '../server/logger.js';
import type { GatewayOptions } from './gateway-options.js';
import type { RunningGateway } from './gateway-start.js';
import { FORCED_EXIT, onStopSignals, signalExitStatus, type StopSignal } from './stop-signals.js';

/**
 * Runs the gateway until SIGTERM or SIGINT, then drains and exits 0; a second signal exits at once.
 * A signal before it listens stops it there, with 0 too.
 */
export async function gatewayCommand(opts: GatewayOptions): Promise<void> {
  const logger = createLogger(opts.logLevel, { gateway: opts.target });
  // Handlers first, as `ocr serve` has them: until one is installed a SIGTERM ends the process by the
  // signal, and a supervisor may send one while the gateway's modules still load.
  let running: RunningGateway | null = null;
  let stopRequested: StopSignal | null = null;
  onStopSignals(
    (signal) => (running ? running.drain(signal) : (stopRequested = signal)),
    (signal) => {
      if (running) return running.force(signal);
      logger.warn({ signal, cut: 0 }, FORCED_EXIT);
      flushLogs();
      process.exit(signalExitStatus(signal));
    },
  );
  logger.info({ target: opts.target, lb: opts.lb }, 'gateway starting');
  const { startGateway } = await import('./gateway-start.js');
  const gateway = await startGateway(opts, logger);
  if (stopRequested !== null) {
    logger.info({ signal: stopRequested }, 'stopped before it listened');
    gateway.close();
    flushLogs();
    process.exit(0);
  }
  const listening = await gateway.listen();
  // A signal taken while it bound its port drains now.
  if (stopRequested !== null) listening.drain(stopRequested);
  running = listening;
}
