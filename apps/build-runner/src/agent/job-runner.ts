import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Attr, ConcurrencyError, IllegalStateError, KilnNames, LeaseJob } from '@kiln/contracts';
import { decryptSecret, loadConfig } from '@kiln/config';
import { Aggregates, EventStore, follow, Following } from '@kiln/event-store';
import { Build } from '@kiln/domain';
import { inSpan, Logger } from '@kiln/telemetry';
import { formatPipelineError, parsePipelineFile } from '@kiln/pipeline';
import { GitMirrors } from '@kiln/git';
import { checkout, CheckoutResult } from '../workspace/git-checkout';
import { runStep } from '../steps/step-process';
import { leaseVerdict } from './lease-verdict';
import { cacheLimits, restoreStepCache, saveStepCache, StepCacheContext } from '../cache/step-cache';
import { LogPublisher } from '../logs/log-publisher';
import { createMasker, SecretMasker } from '../logs/secret-masker';

/** How the build log says the commit got into the workspace. */
const CHECKED_OUT_VIA: Record<CheckoutResult['via'], string> = {
  prepared: ' (checked out by the pool while the build was queued)',
  mirror: " (checked out from the host's git mirror)",
  fetch: '',
};

export type JobOutcome = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

/** What a job needs from the agent's configuration. */
export interface JobRunnerSettings {
  /** `KILN_SECRET_KEY`: decrypts the project's secrets. */
  secretKey: string;
  /** `KILN_LOG_MAX_BYTES`: the log cap of one build attempt. */
  logMaxBytes: number;
  /** `KILN_GIT_MIRROR_DIR`: the host's git mirrors (null: always fetch directly). */
  gitMirrorDir?: string | null;
}

/** The settings from the agent's environment (the pool-manager passes `KILN_SECRET_KEY` through). */
export function settingsFromEnv(): JobRunnerSettings {
  const cfg = loadConfig();
  return { secretKey: cfg.secretKey, logMaxBytes: cfg.logMaxBytes, gitMirrorDir: cfg.gitMirrorDir };
}

type SecretsResult = { ok: true; values: Record<string, string> } | { ok: false; error: Error };

/** Environment every step gets besides its own `env` (no service secrets leak in). */
function baseEnv(job: LeaseJob, sha: string, workspace: string): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
  const env: Record<string, string> = {};
  for (const k of keep) if (process.env[k]) env[k] = process.env[k]!;
  return {
    ...env,
    CI: 'true',
    KILN: 'true',
    KILN_BUILD_ID: job.buildId,
    KILN_PROJECT_ID: job.projectId,
    KILN_ATTEMPT: String(job.attempt),
    KILN_COMMIT_SHA: sha,
    KILN_REF: job.source.ref,
    KILN_BRANCH: job.source.branch ?? '',
    KILN_WORKSPACE: workspace,
  };
}

/**
 * Runs one leased build attempt: start (fenced by attempt and worker), clone the exact
 * commit, read `.kiln.yml`, run each step in its own process group, stream logs, and
 * record every status change. Cancel requests arriving on the build's subject stop the
 * running step within the kill grace.
 */
export class JobRunner {
  private readonly subject: string;
  private readonly abort = new AbortController();
  private buildWatch: Following | null = null;
  /** The build as the watch last saw it: StartBuild decides on it without a read. */
  private known: { state: Build; lastSeq: number } | undefined;
  /** The project's secrets (name → plaintext), given to every step as environment variables. */
  private secretEnv: Record<string, string> = {};
  /** Waiting for the build watch to pass a sequence (see {@link watchPast}). */
  private readonly watchers = new Set<() => void>();

  constructor(
    private readonly store: EventStore,
    private readonly aggs: Aggregates,
    private readonly names: KilnNames,
    private readonly workerId: string,
    private readonly job: LeaseJob,
    private readonly workRoot: string,
    private readonly log: Logger,
    private readonly settings: JobRunnerSettings = settingsFromEnv(),
  ) {
    this.subject = names.subjects.build(job.buildId);
  }

  private cause() {
    return { correlationId: this.job.buildId, causationId: `worker:${this.workerId}` };
  }

  /** Why the build was cancelled, as its cancel request said (e.g. superseded by a newer push). */
  private cancelReason(): string {
    const s = this.known?.state;
    return s && s.status !== 'none' && s.cancelRequested && s.reason ? s.reason : 'cancelled';
  }

  private now(): string {
    return new Date().toISOString();
  }

  async run(): Promise<JobOutcome | 'rejected'> {
    const { job } = this;
    const workspace = join(this.workRoot, `build-${job.buildId}-${job.attempt}`);
    // the project's secrets are read (from its events; the lease carries none) while the clone runs
    const secrets = inSpan('agent.secrets', {}, () => this.readSecrets());
    // the clone starts with the lease, while the scheduler's assignment is on its way
    const mirrors = this.settings.gitMirrorDir ? new GitMirrors(this.settings.gitMirrorDir) : null;
    const cloned = inSpan('agent.checkout', {}, async (span) => {
      const r = await checkout({ repoUrl: job.source.repoUrl, sha: job.source.sha, ref: job.source.ref, dir: workspace, signal: this.abort.signal, mirrors, prepared: job.buildId });
      span.setAttribute(Attr.checkoutVia, r.via);
      return r;
    }).then(
      (r) => ({ ok: true as const, sha: r.sha, via: r.via, mirrorError: r.mirrorError }),
      (e: unknown) => ({ ok: false as const, error: e as Error }),
    );
    // the pipeline file is read and parsed as soon as the checkout is done, while the start is being recorded
    const pipelineFile = cloned.then((c) => (c.ok ? readPipelineFile(workspace) : null));
    pipelineFile.catch(() => undefined); // a throw fails the build where it is awaited, not the process when the lease is void
    const verdict = await inSpan('agent.await-assignment', {}, () => this.followBuild());
    if (verdict !== 'assigned') {
      this.log.warn('lease no longer valid; not starting', { reason: verdict });
      this.abort.abort();
      await cloned;
      await rm(workspace, { recursive: true, force: true }).catch(() => undefined);
      await this.buildWatch?.stop();
      return 'rejected';
    }
    try {
      await this.startBuild();
    } catch (e) {
      await this.buildWatch?.stop();
      if (e instanceof IllegalStateError) {
        this.log.warn('lease no longer valid; not starting', { reason: e.message });
        return 'rejected';
      }
      throw e;
    }
    const loaded = await secrets;
    const secretValues = loaded.ok ? Object.values(loaded.values) : [];
    // every line is masked before it is batched, so nothing unmasked leaves the worker
    const mask = createMasker(secretValues);
    const logs = new LogPublisher(this.store.js, this.names, job.buildId, job.attempt, {
      masker: new SecretMasker(secretValues),
      maxBytes: this.settings.logMaxBytes,
      spoolPath: join(this.workRoot, `log-spool-${job.buildId}-${job.attempt}`),
      jsm: this.store.jsm,
      nc: this.store.nc,
      onWarning: (message, detail) => this.log.warn(message, detail),
    });
    let outcome: JobOutcome = 'failed';
    let reason: string | null = null;
    let exitCode: number | null = null;
    try {
      if (!loaded.ok) throw loaded.error;
      this.secretEnv = loaded.values;
      const r = await this.execute(logs, workspace, cloned, pipelineFile);
      outcome = r.outcome;
      reason = r.reason;
      exitCode = r.exitCode;
    } catch (e) {
      outcome = this.abort.signal.aborted ? 'cancelled' : 'failed';
      reason = (e as Error).message;
      logs.line('system', null, `error: ${reason}`);
    }
    if (reason !== null) reason = mask(reason);
    logs.line('system', null, `build ${outcome}${reason ? `: ${reason}` : ''}`);
    await logs.flush();
    try {
      await this.store.handle(this.aggs.build, this.subject, { type: 'FinishBuild', attempt: job.attempt, outcome, reason, exitCode, now: this.now() }, this.cause());
    } catch (e) {
      if (!(e instanceof IllegalStateError)) throw e;
      this.log.warn('could not record the build result', { reason: (e as Error).message });
    }
    await logs.end(outcome);
    await this.buildWatch?.stop();
    await rm(workspace, { recursive: true, force: true }).catch(() => undefined);
    return outcome;
  }

  /**
   * Follows the build's subject for the whole job: first waits until the build can start
   * here (queued at this lease's attempt, or assigned to this worker: the lease is the
   * assignment, and StartBuild records it when the scheduler has not yet, so starting does
   * not wait for that append), then turns a cancel request or a requeue into an abort of the
   * running step. Resolves with 'assigned', or the reason the lease is void.
   */
  private async followBuild(timeoutMs = 30_000): Promise<string> {
    let settle!: (v: string) => void;
    const verdict = new Promise<string>((r) => (settle = r));
    const timer = setTimeout(() => settle(`no assignment recorded within ${timeoutMs} ms`), timeoutMs);
    let state = this.aggs.build.decider.initialState();
    let lastSeq = 0;
    this.buildWatch = await follow(this.store.js, this.store.jsm, {
      stream: this.aggs.build.stream,
      filter: this.subject,
      onMessage: (m) => {
        const e = this.aggs.build.codec.decode(m.data, m.seq, m.subject);
        state = this.aggs.build.decider.evolve(state, e);
        lastSeq = m.seq;
        this.known = { state, lastSeq };
        for (const w of [...this.watchers]) w();
        const v = leaseVerdict(state, this.job.attempt, this.workerId, m.info.pending);
        if (!v) return;
        settle(v.verdict);
        if (v.abort) this.abort.abort();
      },
    });
    const v = await verdict;
    clearTimeout(timer);
    return v;
  }

  /**
   * Records the start on the state the build watch holds. The scheduler's own assignment
   * may land between that state and the append: the watch brings it within a round trip,
   * so the start is decided again on what it delivers rather than on a fresh read of the
   * build (an ordered consumer set up on the path to the first step).
   */
  private async startBuild(): Promise<void> {
    const command = { type: 'StartBuild' as const, workerId: this.workerId, attempt: this.job.attempt, now: this.now() };
    for (let conflicts = 0; conflicts < 3; conflicts++) {
      const seen = this.known?.lastSeq ?? 0;
      try {
        await this.store.handle(this.aggs.build, this.subject, command, this.cause(), { known: this.known, retries: 0 });
        return;
      } catch (e) {
        if (!(e instanceof ConcurrencyError)) throw e;
        if (!(await this.watchPast(seen, 1000))) break;
      }
    }
    // the watch did not bring the newer state: decide on a read, as any other command
    await this.store.handle(this.aggs.build, this.subject, command, this.cause());
  }

  /** Resolves true once the build watch applied an event past `seq` (false after `ms`). */
  private watchPast(seq: number, ms: number): Promise<boolean> {
    if ((this.known?.lastSeq ?? 0) > seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.watchers.delete(check);
        resolve(false);
      }, ms);
      const check = () => {
        if ((this.known?.lastSeq ?? 0) <= seq) return;
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve(true);
      };
      this.watchers.add(check);
    });
  }

  /** Reads the project's secrets from its events and decrypts them; never rejects. */
  private async readSecrets(): Promise<SecretsResult> {
    try {
      const { state } = await this.store.load(this.aggs.project, this.names.subjects.project(this.job.projectId));
      const values: Record<string, string> = {};
      if (state.status !== 'active') return { ok: true, values };
      for (const [name, secret] of Object.entries(state.secrets ?? {})) {
        try {
          values[name] = decryptSecret(this.settings.secretKey, secret.value);
        } catch (e) {
          return { ok: false, error: new Error(`cannot decrypt project secret ${name} (was KILN_SECRET_KEY changed?)`, { cause: e }) };
        }
      }
      return { ok: true, values };
    } catch (e) {
      return { ok: false, error: new Error(`cannot read the project's secrets: ${(e as Error).message}`, { cause: e }) };
    }
  }

  private async execute(
    logs: LogPublisher,
    workspace: string,
    cloned: Promise<{ ok: true; sha: string; via: CheckoutResult['via']; mirrorError?: string } | { ok: false; error: Error }>,
    pipelineFile: Promise<PipelineFile | null>,
  ): Promise<{ outcome: JobOutcome; reason: string | null; exitCode: number | null }> {
    const { job } = this;
    const deadline = { at: Number.POSITIVE_INFINITY };
    logs.line('system', null, `kiln: build ${job.buildId} attempt ${job.attempt} on worker ${this.workerId}`);
    logs.line('system', null, `kiln: checking out ${job.source.sha ?? job.source.ref}`);
    const c = await cloned;
    if (!c.ok) throw c.error;
    const sha = c.sha;
    if (c.mirrorError) logs.line('system', null, `kiln: the host's git mirror could not serve this commit (${c.mirrorError}); fetched it directly`);
    logs.line('system', null, `kiln: HEAD is ${sha}${CHECKED_OUT_VIA[c.via]}`);
    const file = await pipelineFile;
    if (!file) throw new Error('the checkout failed'); // not reached: a failed checkout threw above
    if (!file.found) {
      const reason = 'no .kiln.yml pipeline file at the root of the repository';
      logs.line('system', null, `error: ${reason}`);
      return { outcome: 'failed', reason, exitCode: null };
    }
    const { pipeline: parsed, deploy: declared } = file.parsed;
    if (!parsed.ok) {
      const reason = formatPipelineError(parsed.error);
      logs.line('system', null, `error: ${reason}`);
      return { outcome: 'failed', reason, exitCode: null };
    }
    const pipeline = parsed.pipeline;
    deadline.at = Date.now() + pipeline.timeoutMs;
    // whether the pipeline deploys, so the deployer need not fetch the release to find out (unknown when `deploy:` does not parse: the deployer reports why)
    const deploy = declared.ok ? declared.deploy && { environment: declared.deploy.environment } : undefined;
    // PipelineLoaded is awaited before the first step only when that step restores a cache (whose records would race it)
    let loading: Promise<unknown> | null = this.store.handle(this.aggs.build, this.subject, { type: 'LoadPipeline', attempt: job.attempt, sha, steps: pipeline.steps.map((s) => ({ name: s.name })), timeoutMs: pipeline.timeoutMs, deploy }, this.cause());
    loading.catch(() => undefined); // awaited below
    const env = baseEnv(job, sha, workspace);
    for (let index = 0; index < pipeline.steps.length; index++) {
      const step = pipeline.steps[index];
      if (this.abort.signal.aborted) {
        await loading?.catch(() => undefined);
        return { outcome: 'cancelled', reason: this.cancelReason(), exitCode: null };
      }
      const startStep = { type: 'StartStep' as const, attempt: job.attempt, index, name: step.name, now: this.now() };
      // The first step starts while PipelineLoaded is on its way, and StepStarted is recorded once it landed: BuildStarted,
      // recorded, is the lease's fence, and the two appends' round trips (tens of ms on a loaded 2-core host) are off the
      // path to the first step. If either cannot be recorded, the step is stopped and the build fails with the reason.
      let recorded: Promise<unknown> = Promise.resolve();
      let signal = this.abort.signal;
      if (loading && !step.cache) {
        const unrecorded = new AbortController();
        signal = AbortSignal.any([this.abort.signal, unrecorded.signal]);
        recorded = loading.then(() => this.store.handle(this.aggs.build, this.subject, startStep, this.cause()));
        recorded.catch(() => unrecorded.abort());
      } else {
        await loading;
        await this.store.handle(this.aggs.build, this.subject, startStep, this.cause());
      }
      loading = null;
      logs.line('system', index, `kiln: step ${index + 1}/${pipeline.steps.length} "${step.name}"`);
      const remaining = deadline.at - Date.now();
      const stepTimeout = Math.min(step.timeoutMs ?? remaining, remaining);
      const buildLimited = step.timeoutMs === undefined || remaining < step.timeoutMs;
      const cacheCtx: StepCacheContext = {
        store: this.store,
        aggs: this.aggs,
        subject: this.subject,
        cause: this.cause(),
        names: this.names,
        buildId: job.buildId,
        projectId: job.projectId,
        attempt: job.attempt,
        branch: job.source.branch,
        workspace,
        env: { ...env, ...step.env },
        log: (text) => logs.line('system', index, text),
      };
      const restored = step.cache ? await restoreStepCache(cacheCtx, index, step.cache) : null;
      const result = await runStep({
        run: step.run,
        cwd: workspace,
        // KILN_CACHE_HIT: whether the step's cache key matched exactly (a step may skip its install then)
        env: { ...env, ...this.secretEnv, ...step.env, ...(restored ? { KILN_CACHE_HIT: String(restored.result === 'hit') } : {}) },
        timeoutMs: Math.max(1, stepTimeout),
        signal,
        onLine: (l) => logs.line(l.stream, index, l.text, l.partial === true),
      });
      await recorded;
      await this.store.handle(
        this.aggs.build,
        this.subject,
        { type: 'FinishStep', attempt: job.attempt, index, name: step.name, outcome: result.outcome, exitCode: result.exitCode, durationMs: result.durationMs, now: this.now() },
        this.cause(),
      );
      if (result.outcome === 'succeeded' && step.cache && restored) {
        await saveStepCache(cacheCtx, index, restored.key, step.cache.paths, restored.result === 'hit', cacheLimits());
      }
      switch (result.outcome) {
        case 'succeeded':
          continue;
        case 'failed':
          return { outcome: 'failed', reason: `step "${step.name}" failed with exit code ${result.exitCode}`, exitCode: result.exitCode };
        case 'timed_out':
          return {
            outcome: 'timed_out',
            reason: buildLimited ? `build exceeded its ${Math.round(pipeline.timeoutMs / 1000)} s timeout in step "${step.name}"` : `step "${step.name}" exceeded its ${Math.round(step.timeoutMs! / 1000)} s timeout`,
            exitCode: null,
          };
        case 'cancelled':
          return { outcome: 'cancelled', reason: this.cancelReason(), exitCode: null };
      }
    }
    await loading; // a pipeline without steps
    return { outcome: 'succeeded', reason: null, exitCode: 0 };
  }
}

type PipelineFile = { found: false } | { found: true; parsed: ReturnType<typeof parsePipelineFile> };

/** The workspace's `.kiln.yml`, its YAML parsed once for both the build's steps and whether it deploys. */
function readPipelineFile(workspace: string): PipelineFile {
  let text: string;
  try {
    // synchronous: one small file, read on the path to the first step while the agent's event loop is busy starting the build
    text = readFileSync(join(workspace, '.kiln.yml'), 'utf8');
  } catch {
    return { found: false };
  }
  return { found: true, parsed: parsePipelineFile(text) };
}
