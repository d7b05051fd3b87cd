import type { WarmupSpec } from '@kiln/contracts';
import { formatMs, judge, probe, ProbeOptions, ProbeOutcome } from './probe';

/** A change in what a warming instance answers (reported as `InstanceWarming`). */
export interface WarmingObservation {
  path: string;
  observation: string;
  signalSeen: boolean;
  /** The limit now in force: `timeoutMs`, or `maxTimeoutMs` once the signal was seen. */
  limitMs: number;
}

export type WarmUpResult =
  | { outcome: 'warm'; tookMs: number; warnings: string[] }
  | { outcome: 'timed_out'; reason: string }
  | { outcome: 'aborted' };

export interface WarmUpOptions {
  port: number;
  spec: WarmupSpec;
  /** Pause between two probes of a path that is still warming. */
  intervalMs: number;
  /** Reports a changed observation at most this often (the first one and the first warm-up signal at once). */
  reportIntervalMs?: number;
  /** Aborts warm-up (the deploy ended elsewhere: a crash, another instance's failure). */
  signal: AbortSignal;
  onObservation(o: WarmingObservation): Promise<void> | void;
  probe?: (o: ProbeOptions) => Promise<ProbeOutcome>;
}

/**
 * Warms one instance: requests each warm-up path in order until it answers 2xx without the
 * warming-up header (a redirect also counts, with a warning), then the next path. A refused,
 * failing or hanging request means "still warming". The instance gets `timeoutMs` from the
 * start of its warm-up, or `maxTimeoutMs` once it has sent the warming-up header (a warm-up
 * signal: it is busy initializing, not broken).
 */
export async function warmUp(opts: WarmUpOptions): Promise<WarmUpResult> {
  const { spec, signal } = opts;
  const doProbe = opts.probe ?? probe;
  const started = Date.now();
  let signalSeen = false;
  const limit = () => (signalSeen ? spec.maxTimeoutMs : spec.timeoutMs);
  const warnings: string[] = [];
  let lastKey: string | null = null;
  let reportedAt = -Infinity;
  let lastObservation: string | null = null;

  for (const path of spec.paths) {
    for (;;) {
      if (signal.aborted) return { outcome: 'aborted' };
      const remaining = started + limit() - Date.now();
      if (remaining <= 0) {
        return {
          outcome: 'timed_out',
          reason: `not warm after ${formatMs(limit())} (${signalSeen ? `${spec.header} seen` : 'no warm-up signal seen'}): last GET ${path}: ${lastObservation ?? 'not answered in time'}`,
        };
      }
      const o = await doProbe({ port: opts.port, path, hostName: spec.hostName, header: spec.header, timeoutMs: Math.max(50, Math.min(spec.requestTimeoutMs, remaining)), signal });
      if (signal.aborted) return { outcome: 'aborted' };
      const verdict = judge(o, path, spec.header);
      if (verdict.warm) {
        if (verdict.warning) warnings.push(verdict.warning);
        lastObservation = null;
        break;
      }
      const firstSignal = verdict.signal && !signalSeen;
      signalSeen ||= verdict.signal;
      const key = `${path}\n${verdict.observation}`;
      if ((key !== lastKey && Date.now() - reportedAt >= (opts.reportIntervalMs ?? 0)) || firstSignal) {
        reportedAt = Date.now();
        lastKey = key;
        await opts.onObservation({ path, observation: verdict.observation, signalSeen, limitMs: limit() });
      }
      lastObservation = verdict.observation;
      await sleep(opts.intervalMs, signal);
    }
  }
  return { outcome: 'warm', tookMs: Date.now() - started, warnings };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
