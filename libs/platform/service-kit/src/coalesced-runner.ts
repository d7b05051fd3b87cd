/**
 * Runs `work` after a kick, one run at a time: kicks that arrive while it runs ask for
 * exactly one more run after it (a burst of events becomes one reconcile, and the last
 * event is never missed). Kicks within one tick start one run. The event-driven loop of
 * the scheduler and the pool; nothing here polls.
 */
export class CoalescedRunner {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly work: () => Promise<void>,
    private readonly onError: (e: unknown) => void,
  ) {}

  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    await Promise.resolve(); // kicks in the same tick join this run
    try {
      do {
        this.again = false;
        await this.work();
      } while (this.again && !this.stopped);
    } catch (e) {
      this.onError(e);
    } finally {
      this.running = null;
    }
  }

  /** No runs after this; resolves when the current one has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
