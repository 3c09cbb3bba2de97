/**
 * A start that failed once the engine had begun: the workers were closed, and `workersStuck` of
 * them are still inside a native call (loading a model, or what follows their ready message). A
 * process with such a worker must end through _exit, not by running out of work (worker-phase.ts).
 */
export class StartFailure extends Error {
  constructor(
    message: string,
    readonly workersStuck: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'StartFailure';
  }
}
