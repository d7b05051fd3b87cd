import { CacheLimits, CacheStore } from '@kiln/build-cache';
import { Logger } from '@kiln/telemetry';

/** How often the api sweeps every project's build cache (ms). */
export const CACHE_SWEEP_INTERVAL_MS = 3600_000;

/**
 * Keeps every project's build cache within its limits (`KILN_CACHE_MAX_BYTES`, least
 * recently used out; `KILN_CACHE_MAX_AGE_MS`), once an hour. A build's save keeps its own
 * project within them; the sweep catches the projects no build saves to any more (idle or
 * deleted ones), whose entries would otherwise never age out. Replicas of the api may
 * sweep at the same time: an entry one of them evicted is simply gone for the other.
 */
export class CacheSweep {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly cache: CacheStore,
    private readonly limits: Omit<CacheLimits, 'now'>,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  start(intervalMs = CACHE_SWEEP_INTERVAL_MS): void {
    this.timer = setInterval(() => void this.sweep(), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One sweep (none while one runs); a failure is logged and the next one tries again. */
  sweep(): Promise<void> {
    this.running ??= (async () => {
      try {
        const evicted = await this.cache.enforceAllLimits({ ...this.limits, now: this.clock() });
        if (evicted.length) this.log.info('build cache swept', { evicted: evicted.length, projects: new Set(evicted.map((e) => e.projectId)).size });
      } catch (e) {
        this.log.warn('build cache sweep failed; the next one tries again', { err: e as Error });
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }
}
