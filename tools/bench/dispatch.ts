import { CpuMeter } from './cpu';
import { row, summary } from './stats';
import { at, BenchEvent, withPlatform } from './platform-run';

const TRIVIAL = 'steps:\n  - name: one\n    run: echo hi\n';
const ORDER = ['BuildRequested', 'BuildQueued', 'BuildAssigned', 'BuildStarted', 'PipelineLoaded', 'StepStarted'];

/**
 * How each build of the dispatch bench is pushed:
 * - `warm`: when the pool is at rest with `minWarm` idle warm workers (what a warm pool promises);
 *   the repository is on this host, named by its path, so the pool borrows its objects;
 * - `warm-transport`: the same, with the repository named by a `file://` URL: each new commit
 *   is fetched through git's transport (five git processes), as from a remote on another host;
 * - `warm-same-commit`: the same, pushing one commit over and over: the host's mirror holds it,
 *   so no fetch is in the figure (the platform's own dispatch and checkout overhead);
 * - `back-to-back`: as soon as the previous build ended, while the pool replaces its worker;
 * - `cold`: with `minWarm` 0, every build waits for an agent to start.
 */
export type DispatchMode = 'warm' | 'warm-transport' | 'warm-same-commit' | 'back-to-back' | 'cold';

/** Webhook accepted → build started / first step running, one build at a time. */
export async function benchDispatch(label: string, mode: DispatchMode, minWarm: number, builds: number): Promise<string[]> {
  return withPlatform({ KILN_POOL_MIN_WARM: String(minWarm) }, async ({ call, repo, push, finished, pidOf }) => {
    const started: number[] = [];
    const firstStep: number[] = [];
    const stages: Record<string, number[]> = {};
    const cpu = new CpuMeter(pidOf);
    const warmAtLeast = async (n: number) => {
      for (let k = 0; k < 1200; k++) {
        const pool = await call<{ counts?: Record<string, number> }>('/api/pool');
        if ((pool.counts?.warm ?? 0) >= n) return;
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await warmAtLeast(minWarm);
    // the repository's first build on this host (which creates its git mirror) is not counted:
    // a warm pool serves repositories it has built before; in the same-commit mode, it also puts
    // the commit in the mirror, as the mode says
    const primer = repo.commit({ '.kiln.yml': TRIVIAL, 'build.txt': `${label}\n` }, 'first build');
    await finished(await push(primer));
    const first = mode === 'warm-same-commit' ? primer : undefined;
    for (let i = 0; i < builds; i++) {
      if (mode === 'warm' || mode === 'warm-transport' || mode === 'warm-same-commit') {
        await warmAtLeast(minWarm);
        await new Promise((r) => setTimeout(r, Number(process.env.BENCH_SETTLE_MS ?? 100))); // the last worker's warm-up has settled
      } else if (mode === 'back-to-back') await warmAtLeast(1);
      // every push is a new commit, as in real use (the pool fetches it into the host's mirror), unless said
      const commit = first ?? repo.commit({ '.kiln.yml': TRIVIAL, 'build.txt': `${label} ${i}\n` }, `build ${i}`);
      cpu.start();
      const events = await finished(await push(commit));
      cpu.stop();
      record(events, started, firstStep, stages);
    }
    return [
      row(`${label}: accepted → build started`, summary(started)),
      row(`${label}: accepted → first step running`, summary(firstStep)),
      ...Object.entries(stages).map(([name, v]) => row(name, summary(v))),
      `    CPU ms per build (push → final event): ${cpu.perWindow()}`,
    ];
  }, mode === 'warm-transport' ? 'file://' : 'path');
}

function record(events: BenchEvent[], started: number[], firstStep: number[], stages: Record<string, number[]>): void {
  const accepted = at(events, 'BuildRequested', 'requestedAt');
  started.push(at(events, 'BuildStarted', 'startedAt') - accepted);
  firstStep.push(at(events, 'StepStarted', 'startedAt') - accepted);
  const when = (type: string) => Date.parse(events.find((e) => e.type === type)?.meta.occurredAt ?? '');
  for (let k = 1; k < ORDER.length; k++) (stages[`    ${ORDER[k - 1]} → ${ORDER[k]}`] ??= []).push(when(ORDER[k]) - when(ORDER[k - 1]));
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
