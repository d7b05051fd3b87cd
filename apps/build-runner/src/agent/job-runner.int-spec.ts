import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsConnection } from 'nats';
import { decodeLogChunk, kilnNames, LeaseJob, LogChunk, newId } from '@kiln/contracts';
import { encryptSecret } from '@kiln/config';
import { aggregates, connectNats, createAggregate, deleteStreams, ensureStreams, EventStore, lastSubjectSeq, readSubject } from '@kiln/event-store';
import { Logger } from '@kiln/telemetry';
import { gitIn, testNamespace, testNatsUrl } from '@kiln/testing';
import { JobRunner } from './job-runner';

const git = gitIn;

describe('JobRunner: project secrets and the log cap, on real NATS and git', () => {
  const names = kilnNames(testNamespace('jobr'));
  const aggs = aggregates(names);
  const key = 'job-runner-test-key';
  const token = 'npm_s3cr3t-T0KEN-value';
  const deployKey = 'first-line-of-key\nAB\nlast-line-of-key';
  let nc: NatsConnection;
  let store: EventStore;
  let root: string;
  let remote: string;
  let sha: string;
  /** A commit whose one step marks its start and, a second later, its end in `root`. */
  let markedSha: string;
  const log = new Logger('job-runner-test', {}, 'error');

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'job-runner-test');
    store = await EventStore.create(nc, names);
    await ensureStreams(store.jsm, names);
    root = await mkdtemp(join(tmpdir(), 'kiln-jobr-'));
    remote = join(root, 'remote.git');
    const work = join(root, 'work');
    git(root, 'init', '--quiet', '--bare', '-b', 'main', remote);
    git(root, 'init', '--quiet', '-b', 'main', work);
    const pipeline = [
      'steps:',
      '  - name: secrets',
      '    run: |',
      '      test "$NPM_TOKEN" = "npm_s3cr3t-T0KEN-value"',
      '      echo "token: $NPM_TOKEN"',
      '      printf "%s\\n" "$DEPLOY_KEY"',
      '      echo "$NPM_TOKEN" | rev | rev >&2',
      '  - name: noisy',
      '    run: for i in $(seq 1 300); do echo "noise $i ................................................"; done',
      '  - name: after',
      '    run: echo still running',
      '',
    ].join('\n');
    await writeFile(join(work, '.kiln.yml'), pipeline);
    git(work, 'add', '.kiln.yml');
    git(work, 'commit', '--quiet', '-m', 'pipeline');
    sha = git(work, 'rev-parse', 'HEAD');
    git(work, 'push', '--quiet', remote, 'main');
    await writeFile(join(work, '.kiln.yml'), `steps:\n  - name: marked\n    run: touch "${root}/started-$KILN_BUILD_ID"; sleep 1; touch "${root}/finished-$KILN_BUILD_ID"\n`);
    git(work, 'commit', '--quiet', '-am', 'marked pipeline');
    markedSha = git(work, 'rev-parse', 'HEAD');
    git(work, 'push', '--quiet', remote, 'main');
  });
  afterAll(async () => {
    await deleteStreams(store.jsm, names);
    await nc.drain();
    await rm(root, { recursive: true, force: true });
  });

  /** A project with two secrets and a build assigned to `workerId`: what the scheduler and the API would have written. */
  async function givenAssignedBuild(workerId: string | null, commit = sha): Promise<LeaseJob> {
    const projectId = newId();
    const buildId = newId();
    const now = new Date().toISOString();
    await createAggregate(
      store,
      aggs.project,
      names.subjects.project(projectId),
      {
        type: 'CreateProject',
        data: { projectId, name: 'p', repoUrl: remote, provider: 'github', webhookSecret: encryptSecret(key, 'webhook-secret'), branches: null, concurrency: 1, createdAt: now },
      },
      { correlationId: projectId },
    );
    for (const [name, value] of [['NPM_TOKEN', token], ['DEPLOY_KEY', deployKey]]) {
      await store.handle(aggs.project, names.subjects.project(projectId), { type: 'SetProjectSecret', projectId, name, value: encryptSecret(key, value), now }, { correlationId: projectId });
    }
    const source = { repoUrl: remote, ref: 'refs/heads/main', sha: commit, branch: 'main', author: null, message: null };
    const subject = names.subjects.build(buildId);
    const cause = { correlationId: buildId };
    await store.handle(aggs.build, subject, { type: 'RequestBuild', data: { buildId, projectId, trigger: 'manual', deliveryId: null, source, requestedAt: now } }, cause);
    await store.handle(aggs.build, subject, { type: 'QueueBuild', now }, cause);
    if (workerId) await store.handle(aggs.build, subject, { type: 'AssignBuild', workerId, attempt: 1, now }, cause);
    return { buildId, projectId, attempt: 1, source };
  }

  async function logOf(buildId: string) {
    const subject = names.subjects.log(buildId);
    const msgs = await readSubject(store.js, names.streams.logs, subject, await lastSubjectSeq(store.jsm, names.streams.logs, subject));
    const records = msgs.map((m) => decodeLogChunk(m.data));
    return {
      raw: msgs.map((m) => Buffer.from(m.data).toString('utf8')).join('\n'),
      lines: records.flatMap((r: LogChunk) => (r.kind === 'lines' ? r.lines : [])),
      end: records.find((r) => r.kind === 'end'),
    };
  }

  it('gives steps the secrets as environment variables and masks them in the log; the cap truncates and the build goes on', async () => {
    const job = await givenAssignedBuild('w-secrets');
    const runner = new JobRunner(store, aggs, names, 'w-secrets', job, join(root, 'worker-1'), log, { secretKey: key, logMaxBytes: 4096 });
    expect(await runner.run()).toBe('succeeded');
    const { raw, lines, end } = await logOf(job.buildId);
    expect(end).toMatchObject({ kind: 'end', status: 'succeeded' });
    for (const fragment of [token, 's3cr3t', 'first-line-of-key', 'last-line-of-key']) expect(raw).not.toContain(fragment);
    const texts = lines.map((l) => l.text);
    expect(texts).toContain('token: ***');
    expect(lines.filter((l) => l.step === 0 && l.stream === 'stdout').map((l) => l.text)).toEqual(['token: ***', '***', '***', '***']);
    expect(lines.some((l) => l.stream === 'stderr' && l.text === '***')).toBe(true);
    // the cap: noise is cut, said once, and the next step still runs and logs its system line
    expect(texts.filter((t) => t === 'kiln: log truncated at 4096 bytes; the build goes on')).toHaveLength(1);
    expect(texts.filter((t) => t.startsWith('noise')).length).toBeLessThan(300);
    expect(texts).toContain('kiln: step 3/3 "after"');
    expect(texts).not.toContain('still running');
    expect(texts[texts.length - 1]).toMatch(/^kiln: \d+ line\(s\) of step output \(\d+ bytes\) dropped after the log cap of 4096 bytes$/);
    const build = await store.load(aggs.build, names.subjects.build(job.buildId));
    expect(build.state.status).toBe('succeeded');
  });

  it('starts a leased build the scheduler has not recorded as assigned yet, recording the assignment itself', async () => {
    const job = await givenAssignedBuild(null);
    const runner = new JobRunner(store, aggs, names, 'w-first', job, join(root, 'worker-3'), log, { secretKey: key, logMaxBytes: 1 << 20 });
    expect(await runner.run()).toBe('succeeded');
    const events = (await store.load(aggs.build, names.subjects.build(job.buildId))).events;
    expect(events.slice(0, 4).map((e) => e.type)).toEqual(['BuildRequested', 'BuildQueued', 'BuildAssigned', 'BuildStarted']);
    expect(events[2].data).toMatchObject({ workerId: 'w-first', attempt: 1 });
    // the scheduler's AssignBuild arriving late for another worker is refused: the build runs once
    await expect(store.handle(aggs.build, names.subjects.build(job.buildId), { type: 'AssignBuild', workerId: 'w-other', attempt: 1, now: new Date().toISOString() }, { correlationId: job.buildId })).rejects.toThrow(/succeeded|running/);
  });

  describe('the first step starts while PipelineLoaded is on its way', () => {
    /** Runs a build of the marked pipeline with PipelineLoaded held back until its step has started, then let through or refused. */
    async function runWithPipelineHeldBack(refuse: Error | null) {
      const job = await givenAssignedBuild('w-overlap', markedSha);
      const subject = names.subjects.build(job.buildId);
      const started = join(root, `started-${job.buildId}`);
      const handle = store.handle.bind(store);
      let stepRanFirst = false;
      const spy = jest.spyOn(store, 'handle').mockImplementation(async (agg, subj, command, cause, opts) => {
        if (subj === subject && (command as { type: string }).type === 'LoadPipeline') {
          for (let i = 0; i < 500 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 10));
          stepRanFirst = existsSync(started);
          if (refuse) throw refuse;
        }
        return handle(agg, subj, command, cause, opts);
      });
      try {
        const runner = new JobRunner(store, aggs, names, 'w-overlap', job, join(root, `worker-overlap-${refuse ? 'refused' : 'ok'}`), log, { secretKey: key, logMaxBytes: 1 << 20 });
        const outcome = await runner.run();
        const events = (await store.load(aggs.build, subject)).events;
        return { outcome, stepRanFirst, events, finished: existsSync(join(root, `finished-${job.buildId}`)) };
      } finally {
        spy.mockRestore();
      }
    }

    it('runs the step before PipelineLoaded is recorded, and records StepStarted after it, with the time the step began', async () => {
      const { outcome, stepRanFirst, events, finished } = await runWithPipelineHeldBack(null);
      expect(outcome).toBe('succeeded');
      expect(stepRanFirst).toBe(true);
      expect(finished).toBe(true);
      const types = events.map((e) => e.type);
      expect(types.slice(3)).toEqual(['BuildStarted', 'PipelineLoaded', 'StepStarted', 'StepFinished', 'BuildSucceeded']);
      const loaded = events.find((e) => e.type === 'PipelineLoaded')!;
      const stepStarted = events.find((e) => e.type === 'StepStarted')!;
      expect(Date.parse((stepStarted.data as { startedAt: string }).startedAt)).toBeLessThanOrEqual(Date.parse(loaded.meta.occurredAt));
    });

    it('stops the step and fails the build with the reason when PipelineLoaded cannot be recorded', async () => {
      const { outcome, stepRanFirst, events, finished } = await runWithPipelineHeldBack(new Error('the broker refused PipelineLoaded'));
      expect(stepRanFirst).toBe(true);
      expect(outcome).toBe('failed');
      expect(finished).toBe(false); // stopped a second before its end
      const types = events.map((e) => e.type);
      expect(types).not.toContain('PipelineLoaded');
      expect(types).not.toContain('StepStarted');
      expect(events[events.length - 1]).toMatchObject({ type: 'BuildFailed', data: { reason: 'the broker refused PipelineLoaded' } });
    });
  });

  it("takes the scheduler's assignment that lands just before its start from the build watch, not from a read", async () => {
    const job = await givenAssignedBuild(null);
    const subject = names.subjects.build(job.buildId);
    // the scheduler appends its AssignBuild between the state the watch gave and the start
    const handle = store.handle.bind(store);
    let raced = false;
    const spyHandle = jest.spyOn(store, 'handle').mockImplementation(async (agg, subj, command, cause, opts) => {
      if (!raced && subj === subject && (command as { type: string }).type === 'StartBuild') {
        raced = true;
        const scheduler = await EventStore.create(nc, names);
        await scheduler.handle(aggs.build, subject, { type: 'AssignBuild', workerId: 'w-raced', attempt: 1, now: new Date().toISOString() }, { correlationId: job.buildId });
      }
      return handle(agg, subj, command, cause, opts);
    });
    const spyLoad = jest.spyOn(store, 'load');
    try {
      const runner = new JobRunner(store, aggs, names, 'w-raced', job, join(root, 'worker-5'), log, { secretKey: key, logMaxBytes: 1 << 20 });
      expect(await runner.run()).toBe('succeeded');
      expect(raced).toBe(true);
      expect(spyLoad.mock.calls.filter(([, subj]) => subj === subject)).toEqual([]);
    } finally {
      spyHandle.mockRestore();
      spyLoad.mockRestore();
    }
    const events = (await store.load(aggs.build, subject)).events;
    expect(events.slice(0, 4).map((e) => e.type)).toEqual(['BuildRequested', 'BuildQueued', 'BuildAssigned', 'BuildStarted']);
    expect(events.filter((e) => e.type === 'BuildAssigned')).toHaveLength(1);
  });

  it("starts on the scheduler's assignment already in the stream, not on the queued state before it (no conflict, one append)", async () => {
    const job = await givenAssignedBuild('w-after');
    const subject = names.subjects.build(job.buildId);
    const starts: { status: string | undefined }[] = [];
    const handle = store.handle.bind(store);
    const spy = jest.spyOn(store, 'handle').mockImplementation(async (agg, subj, command, cause, opts) => {
      if (subj === subject && (command as { type: string }).type === 'StartBuild') starts.push({ status: (opts?.known?.state as { status?: string } | undefined)?.status });
      return handle(agg, subj, command, cause, opts);
    });
    try {
      const runner = new JobRunner(store, aggs, names, 'w-after', job, join(root, 'worker-6'), log, { secretKey: key, logMaxBytes: 1 << 20 });
      expect(await runner.run()).toBe('succeeded');
    } finally {
      spy.mockRestore();
    }
    expect(starts).toEqual([{ status: 'assigned' }]);
    const events = (await store.load(aggs.build, subject)).events;
    expect(events.filter((e) => e.type === 'BuildAssigned')).toHaveLength(1);
  });

  it('does not start a build assigned to another worker', async () => {
    const job = await givenAssignedBuild('w-owner');
    const runner = new JobRunner(store, aggs, names, 'w-intruder', job, join(root, 'worker-4'), log, { secretKey: key, logMaxBytes: 1 << 20 });
    expect(await runner.run()).toBe('rejected');
    const build = await store.load(aggs.build, names.subjects.build(job.buildId));
    expect(build.state).toMatchObject({ status: 'assigned', workerId: 'w-owner' });
  });

  it('fails the build, without running a step, when a secret cannot be decrypted', async () => {
    const job = await givenAssignedBuild('w-wrongkey');
    const runner = new JobRunner(store, aggs, names, 'w-wrongkey', job, join(root, 'worker-2'), log, { secretKey: 'not-the-key', logMaxBytes: 1 << 20 });
    expect(await runner.run()).toBe('failed');
    const { lines, end } = await logOf(job.buildId);
    expect(end).toMatchObject({ status: 'failed' });
    expect(lines.map((l) => l.text)).toContain('error: cannot decrypt project secret NPM_TOKEN (was KILN_SECRET_KEY changed?)');
    expect(lines.some((l) => l.step !== null)).toBe(false);
  });
});
