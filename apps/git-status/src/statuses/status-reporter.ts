import { Inject, Injectable } from '@nestjs/common';
import { Attr, BuildEvent, KilnNames, Recorded } from '@kiln/contracts';
import { decryptSecret, KilnConfig } from '@kiln/config';
import { ExistingBuild } from '@kiln/domain';
import { Aggregates, EventStore } from '@kiln/event-store';
import { AGGREGATES, CONFIG, LOGGER, NAMES } from '@kiln/service-kit';
import { inSpan, Logger } from '@kiln/telemetry';
import { KnownProject, ProjectCatalog } from '../projects/project-catalog';
import { buildPageUrl, desiredStatus, isStatusEvent, statusRequest, StatusTarget } from './commit-status';
import { GitHostClient } from './git-host-client';
import { HostUnavailableError, RetryPolicy } from './host-response';
import { repoRefOf } from './repo-ref';

/** Name of the project secret holding a token for that project's commit statuses (overrides KILN_GITHUB_TOKEN / KILN_GITLAB_TOKEN). */
export const GIT_STATUS_TOKEN_SECRET = 'GIT_STATUS_TOKEN';

export const RETRY_POLICY = Symbol('GIT_STATUS_RETRY_POLICY');

/** Rounds per event: after a non-final status is sent the build is read again, and its newer status sent at once. */
const MAX_ROUNDS = 4;

/**
 * Reports builds to their git host as commit statuses. For each build event that can change
 * the status it reads the build's current state, derives the status, and sends it unless
 * that exact status was already sent. A host that is down or rate limiting makes the event
 * retry later (`HostUnavailableError` → the consumer's nak with backoff), so other builds
 * go on meanwhile; a host that refuses the request (4xx) has it dropped with the reason.
 */
@Injectable()
export class StatusReporter {
  /** Last status sent per build (`sha|state|description`), bounded; replicas and restarts may repeat one, which hosts tolerate. */
  private readonly sent = new Map<string, string>();
  /** Projects whose "no status for them" reason was logged already. */
  private readonly explained = new Set<string>();

  constructor(
    private readonly store: EventStore,
    private readonly projects: ProjectCatalog,
    private readonly host: GitHostClient,
    @Inject(AGGREGATES) private readonly aggs: Aggregates,
    @Inject(NAMES) private readonly names: KilnNames,
    @Inject(CONFIG) private readonly cfg: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(RETRY_POLICY) private readonly policy: RetryPolicy,
  ) {}

  /** Handles one build event; `deliveryCount` is 1 on its first delivery. Throws HostUnavailableError to be retried. */
  async onBuildEvent(e: Recorded<BuildEvent>, deliveryCount: number): Promise<void> {
    if (!isStatusEvent(e.type)) return;
    const buildId = e.data.buildId;
    await inSpan('git-status.report', { [Attr.buildId]: buildId, [Attr.eventType]: e.type }, async () => {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const { state } = await this.store.load(this.aggs.build, this.names.subjects.build(buildId));
        if (state.status === 'none') return;
        const more = await this.report(state, deliveryCount);
        if (!more) return;
      }
    });
  }

  /** Sends the build's current status if it is new; true when a non-final one was sent (the build may have moved on meanwhile). */
  private async report(build: ExistingBuild, deliveryCount: number): Promise<boolean> {
    const sha = build.source.sha;
    if (!sha) return false; // a manual build by ref: reported once PipelineLoaded resolved the commit
    const status = desiredStatus(build);
    const key = `${sha}|${status.phase}|${status.description}`;
    if (this.sent.get(build.buildId) === key) return false;
    const target = await this.targetOf(build, sha);
    if (!target) return false;
    const req = statusRequest(target, status);
    const fields = { buildId: build.buildId, projectId: build.projectId, provider: target.repo.provider, sha, state: req.body.state, description: status.description };
    const outcome = await this.host.send(req);
    switch (outcome.kind) {
      case 'sent':
        this.remember(build.buildId, key);
        this.log.info('commit status sent', fields);
        return !status.final;
      case 'drop':
        this.remember(build.buildId, key);
        this.log.warn('commit status refused by the git host; not retried', { ...fields, reason: outcome.reason });
        return false;
      case 'retry':
        if (deliveryCount >= this.policy.maxAttempts) {
          this.log.error('commit status given up after repeated failures', { ...fields, attempts: deliveryCount, reason: outcome.reason });
          return false;
        }
        this.log.warn('git host unavailable; commit status will be retried', { ...fields, attempt: deliveryCount, reason: outcome.reason });
        throw new HostUnavailableError(`${target.repo.provider} did not take the status of build ${build.buildId}: ${outcome.reason}`, outcome.retryAfterMs);
    }
  }

  /** Where and with which token the build's status goes; null (reason logged once per project) when nowhere. */
  private async targetOf(build: ExistingBuild, sha: string): Promise<StatusTarget | null> {
    const project = await this.projects.get(build.projectId);
    if (!project) return this.explain(build.projectId, 'debug', 'no commit statuses: unknown project');
    const repo = repoRefOf(project.provider, project.repoUrl);
    if (!repo) return this.explain(build.projectId, 'debug', `no commit statuses: ${project.repoUrl} names no ${project.provider} repository`);
    const token = this.tokenOf(project);
    if (!token) {
      const key = project.provider === 'github' ? 'KILN_GITHUB_TOKEN' : 'KILN_GITLAB_TOKEN';
      return this.explain(build.projectId, 'info', `no commit statuses: set ${key} or the project secret ${GIT_STATUS_TOKEN_SECRET}`);
    }
    return {
      repo,
      sha,
      branch: build.source.branch,
      token,
      targetUrl: buildPageUrl(this.cfg.publicUrl, build.buildId),
      githubApiUrl: this.cfg.githubApiUrl,
      gitlabApiUrl: this.cfg.gitlabApiUrl,
    };
  }

  private tokenOf(project: KnownProject): string | null {
    const own = project.secrets?.[GIT_STATUS_TOKEN_SECRET];
    if (own) {
      try {
        return decryptSecret(this.cfg.secretKey, own.value);
      } catch {
        this.explain(project.projectId, 'error', `cannot decrypt the project secret ${GIT_STATUS_TOKEN_SECRET} (was KILN_SECRET_KEY changed?); using the global token`);
      }
    }
    return (project.provider === 'github' ? this.cfg.githubToken : this.cfg.gitlabToken) ?? null;
  }

  private explain(projectId: string, level: 'debug' | 'info' | 'error', msg: string): null {
    const key = `${projectId}|${msg}`;
    if (this.explained.has(key)) return null;
    if (this.explained.size >= 10_000) this.explained.clear();
    this.explained.add(key);
    this.log[level](msg, { projectId });
    return null;
  }

  private remember(buildId: string, key: string): void {
    this.sent.delete(buildId);
    this.sent.set(buildId, key);
    if (this.sent.size > 50_000) this.sent.delete(this.sent.keys().next().value as string);
  }
}
