import { Injectable } from '@nestjs/common';

/** A named readiness check; `/readyz` answers 200 only when all pass. */
export type ReadinessCheck = () => Promise<void> | void;

@Injectable()
export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private draining = false;

  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** Marks the service as shutting down: not ready, so balancers stop sending work. */
  drain(): void {
    this.draining = true;
  }

  async evaluate(): Promise<{ ready: boolean; checks: Record<string, string> }> {
    const checks: Record<string, string> = {};
    let ready = !this.draining;
    if (this.draining) checks.shutdown = 'draining';
    for (const [name, check] of this.checks) {
      try {
        await check();
        checks[name] = 'ok';
      } catch (e) {
        ready = false;
        checks[name] = (e as Error).message;
      }
    }
    return { ready, checks };
  }
}
