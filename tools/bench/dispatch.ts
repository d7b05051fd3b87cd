import { row, summary } from './stats';
import { at, withPlatform } from './platform-run';

const TRIVIAL = 'steps:\n  - name: one\n    run: echo hi\n';

/**
 * Webhook accepted → build started / first step running, one build at a time, with the
 * pool as configured (`minWarm` idle workers, or 0: every build waits for a cold start).
 */
export async function benchDispatch(label: string, minWarm: number, builds: number): Promise<string[]> {
  return withPlatform({ KILN_POOL_MIN_WARM: String(minWarm) }, async ({ call, repo, push, finished }) => {
    const sha = repo.commit({ '.kiln.yml': TRIVIAL }, 'trivial');
    const started: number[] = [];
    const firstStep: number[] = [];
    const stages: Record<string, number[]> = {};
    for (let i = 0; i < builds; i++) {
      if (minWarm > 0) {
        // measure what a warm pool promises: start each build when a warm worker stands ready
        for (let k = 0; k < 400; k++) {
          const pool = await call<{ counts?: Record<string, number> }>('/api/pool');
          if ((pool.counts?.warm ?? 0) >= 1) break;
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      const events = await finished(await push(sha));
      const accepted = at(events, 'BuildRequested', 'requestedAt');
      started.push(at(events, 'BuildStarted', 'startedAt') - accepted);
      firstStep.push(at(events, 'StepStarted', 'startedAt') - accepted);
      const when = (type: string) => Date.parse(events.find((e) => e.type === type)?.meta.occurredAt ?? '');
      const order = ['BuildRequested', 'BuildQueued', 'BuildAssigned', 'BuildStarted', 'PipelineLoaded', 'StepStarted'];
      for (let k = 1; k < order.length; k++) (stages[`    ${order[k - 1]} → ${order[k]}`] ??= []).push(when(order[k]) - when(order[k - 1]));
    }
    return [
      row(`${label}: accepted → build started`, summary(started)),
      row(`${label}: accepted → first step running`, summary(firstStep)),
      ...Object.entries(stages).map(([name, v]) => row(name, summary(v))),
    ];
  });
}

/** Builds completed per minute for trivial pipelines with `concurrency` running at once. */
export async function benchThroughput(concurrency: number, builds: number): Promise<string> {
  return withPlatform(
    { KILN_POOL_MIN_WARM: String(concurrency), KILN_POOL_MAX_WORKERS: String(concurrency * 2), KILN_PROJECT_CONCURRENCY: String(concurrency) },
    async ({ call, repo, push, finished }) => {
      const sha = repo.commit({ '.kiln.yml': TRIVIAL }, 'trivial');
      for (let k = 0; k < 1200; k++) {
        const pool = await call<{ counts?: Record<string, number> }>('/api/pool');
        if ((pool.counts?.warm ?? 0) >= concurrency) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const t0 = Date.now();
      const ids = await Promise.all(Array.from({ length: builds }, () => push(sha)));
      let ok = 0;
      for (const id of ids) if ((await finished(id, 600_000)).some((e) => e.type === 'BuildSucceeded')) ok++;
      const minutes = (Date.now() - t0) / 60_000;
      return `${`throughput at concurrency ${concurrency}`.padEnd(56)} ${(ok / minutes).toFixed(1).padStart(8)} builds/min  (${ok}/${builds} succeeded in ${(minutes * 60).toFixed(1)} s)`;
    },
  );
}
