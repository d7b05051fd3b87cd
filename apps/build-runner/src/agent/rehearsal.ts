import { BuildEvent, KilnNames } from '@kiln/contracts';
import { Aggregates, EventStore, follow } from '@kiln/event-store';
import { BuildCommand } from '@kiln/domain';
import { parsePipelineFile } from '@kiln/pipeline';
import { runStep } from '../steps/step-process';

/** A pipeline using what the parsers know: steps with env, timeout and cache, and a deploy. */
export const REHEARSAL_PIPELINE = [
  'timeout: 20m',
  'steps:',
  '  - name: install',
  '    run: npm ci',
  '    env: { NODE_ENV: test }',
  '    timeout: 5m',
  '    cache:',
  "      key: npm-${{ hashFiles('package-lock.json') }}",
  '      restoreKeys: [npm-]',
  '      paths: [node_modules]',
  '  - name: test',
  '    run: npm test',
  'deploy:',
  '  environment: production',
  '  start: node app.js',
  '  instances: 2',
  '  warmup:',
  '    paths: [/, /health]',
  '    timeout: 30s',
  '',
].join('\n');

/**
 * Runs the code a build's first moments run, once, before the worker says it is warm: a
 * fresh agent compiles each function on its first call, and an ephemeral worker's only
 * build would otherwise pay that between lease and first step. Returns the warm-up check.
 */
export function rehearse(): string {
  const { pipeline, deploy } = parsePipelineFile(REHEARSAL_PIPELINE);
  if (!pipeline.ok || !deploy.ok || !deploy.deploy) throw new Error('the rehearsal pipeline no longer parses: the parsers changed');
  return 'pipeline parser rehearsed';
}

/**
 * The rest of a build's first moments, rehearsed once before the worker says it is warm:
 * a whole build's commands decided, checked and decoded as the event store would (in
 * memory: nothing is appended), the reads a lease starts with (the project's events, a
 * follow of the build's subject) against subjects that hold nothing, and one trivial step
 * process. Measured: an ephemeral agent's only build otherwise spends ~20 ms more between
 * lease and first step compiling these paths on their first call. Returns the warm-up check.
 */
export async function rehearseBuild(store: EventStore, aggs: Aggregates, names: KilnNames, workerId: string, workRoot: string): Promise<string> {
  const buildId = `rehearsal-${workerId}`;
  const subject = names.subjects.build(buildId);
  const now = new Date().toISOString();
  const source = { repoUrl: 'https://example.com/rehearsal.git', ref: 'refs/heads/main', sha: '0'.repeat(40), branch: 'main', author: 'kiln', message: 'rehearsal' };
  const commands: BuildCommand[] = [
    { type: 'RequestBuild', data: { buildId, projectId: 'rehearsal', trigger: 'push', deliveryId: buildId, source, requestedAt: now } },
    { type: 'QueueBuild', now },
    { type: 'StartBuild', workerId, attempt: 1, now },
    { type: 'LoadPipeline', attempt: 1, sha: source.sha, steps: [{ name: 'one' }], timeoutMs: 60_000, deploy: null },
    { type: 'StartStep', attempt: 1, index: 0, name: 'one', now },
    { type: 'FinishStep', attempt: 1, index: 0, name: 'one', outcome: 'succeeded', exitCode: 0, durationMs: 1, now },
    { type: 'FinishBuild', attempt: 1, outcome: 'succeeded', reason: null, exitCode: 0, now },
  ];
  let state = aggs.build.decider.initialState();
  let seq = 0;
  for (const command of commands) {
    for (const e of aggs.build.decider.decide(command, state) as BuildEvent[]) {
      const def = aggs.build.codec.validate(e);
      const bytes = Buffer.from(JSON.stringify({ type: e.type, version: def.version, data: e.data, meta: { eventId: `${buildId}-${++seq}`, correlationId: buildId, occurredAt: now } }));
      state = aggs.build.decider.evolve(state, aggs.build.codec.decode(bytes, seq, subject));
    }
  }
  if (state.status !== 'succeeded') throw new Error(`the rehearsal build ended ${state.status}: the build decider changed`);
  const [, watch] = await Promise.all([
    store.load(aggs.project, names.subjects.project(buildId)),
    follow(store.js, store.jsm, { stream: aggs.build.stream, filter: subject, onMessage: () => undefined }),
  ]);
  await watch.caughtUp;
  await watch.stop();
  const step = await runStep({ run: 'true', cwd: workRoot, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 10_000, onLine: () => undefined });
  if (step.outcome !== 'succeeded') throw new Error(`the rehearsal step ended ${step.outcome}`);
  return 'build path rehearsed';
}
