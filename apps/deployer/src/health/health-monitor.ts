import type { WarmupSpec } from '@kiln/contracts';
import type { Backend } from '../edge/edge-router';
import { judge, probe, ProbeOptions, ProbeOutcome } from '../warmup/probe';

export interface HealthOptions {
  /** Time between two checks of an instance. */
  intervalMs: number;
  /** A check that takes longer fails. */
  timeoutMs: number;
  /** This many failed checks in a row make an instance unhealthy. */
  failures: number;
  probe?: (o: ProbeOptions) => Promise<ProbeOutcome>;
}

interface Watched {
  timer: NodeJS.Timeout;
  busy: boolean;
  failed: number;
}

/**
 * Checks warm instances every `intervalMs` with their first warm-up path. An answer without
 * the warming-up header keeps the instance warm; an answer with it makes it cold (it stays in
 * rotation, the edge prefers warm ones); `failures` failed checks in a row (an error status, a
 * refused or hanging request) make it unhealthy: it is unwatched and `onUnhealthy` called once.
 */
export class HealthMonitor {
  private readonly watched = new Map<string, Watched>();

  constructor(private readonly opts: HealthOptions) {}

  watch(instanceId: string, port: number, warmup: WarmupSpec, backend: Backend, onUnhealthy: (reason: string) => void): void {
    this.unwatch(instanceId);
    const path = warmup.paths[0];
    const w: Watched = {
      busy: false,
      failed: 0,
      timer: setInterval(async () => {
        if (w.busy) return;
        w.busy = true;
        try {
          const o = await (this.opts.probe ?? probe)({ port, path, hostName: warmup.hostName, header: warmup.header, timeoutMs: Math.min(this.opts.timeoutMs, warmup.requestTimeoutMs) });
          if (this.watched.get(instanceId) !== w) return;
          const v = judge(o, path, warmup.header);
          if (v.warm || v.signal) {
            w.failed = 0;
            backend.warm = v.warm;
            return;
          }
          w.failed++;
          if (w.failed >= this.opts.failures) {
            this.unwatch(instanceId);
            onUnhealthy(`failed ${w.failed} health checks in a row (last: GET ${path}: ${v.observation})`);
          }
        } finally {
          w.busy = false;
        }
      }, this.opts.intervalMs),
    };
    w.timer.unref();
    this.watched.set(instanceId, w);
  }

  unwatch(instanceId: string): void {
    const w = this.watched.get(instanceId);
    if (!w) return;
    clearInterval(w.timer);
    this.watched.delete(instanceId);
  }

  stopAll(): void {
    for (const id of [...this.watched.keys()]) this.unwatch(id);
  }
}
