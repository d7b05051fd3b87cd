/**
 * How workers are provisioned. The pool decides how many and when; a driver only starts
 * and stops the agent process/container for a worker id. Agents connect out to NATS by
 * themselves: a driver never opens a port on a worker.
 */
export interface WorkerDriver {
  readonly name: string;
  /** Starts the agent for `workerId`; resolves once it was launched (not when warm). */
  start(workerId: string): Promise<void>;
  /** Stops the agent (and everything it started). Safe to call for unknown or dead workers. */
  stop(workerId: string): Promise<void>;
  /** Called when an agent process exits on its own (code or signal). */
  onExit(cb: (workerId: string, detail: string) => void): void;
  /** Stops every agent this driver started. */
  stopAll(): Promise<void>;
}
