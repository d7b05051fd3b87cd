import { Inject, Injectable } from '@nestjs/common';
import { Attr, BuildEvent, KilnNames, Recorded } from '@kiln/contracts';
import { decryptSecret, KilnConfig } from '@kiln/config';
import { ExistingBuild } from '@kiln/domain';
import { Aggregates, EventStore } from '@kiln/event-store';
import { AGGREGATES, CONFIG, LOGGER, NAMES } from '@kiln/service-kit';
import { inSpan, Logger } from '@kiln/telemetry';
import { KnownProject, ProjectCatalog } from '../projects/project-catalog';
import { buildPageUrl, desiredStatus, GIT_STATUS_TOKEN_SECRET, isStatusEvent, reachOf, statusRequest, StatusTarget } from './commit-status';
import { GitHostClient } from './git-host-client';
import { HostUnavailableError, RetryPolicy } from './host-response';
import { RepoRef } from './repo-ref';

export const RETRY_POLICY = Symbol('GIT_STATUS_RETRY_POLICY');

/** Rounds per event: after a non-final status is sent the build is read again, and its newer status sent at once. */
const MAX_ROUNDS = 4;

/** Builds remembered per map (last status sent, project): the oldest is forgotten first. */
const MAX_BUILDS = 50_000;

/** A project's repository and the token for its statuses. */
type Hosted = { repo: RepoRef; token: string };

/**
 * Reports builds to their git host as commit statuses. For each build event that can change
 * the status it reads the build's current state, derives the status, and sends it unless
 * that exact status was already sent. A host that is down or rate limiting makes the event
 * retry later (`HostUnavailableError` → the consumer's nak with backoff), so other builds
 * go on meanwhile; a host that refuses the request (4xx) has it dropped with the reason.
 * A build whose project has nowhere to send statuses (no hosted repository, no token) is not
 * read at all once its project is known: that read costs CPU on every build, beside the
 * services starting it, for nothing.
 */
@Injectable()
export class StatusReporter {
  /** Last status sent per build (`sha|state|description`), bounded; replicas and restarts may repeat one, which hosts tolerate. */
  private readonly sent = new Map<string, string>();
  /** Project of each build, from its BuildRequested / BuildQueued or from reading it; bounded. */
  private readonly projectOf = new Map<string, string>();
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
    if ('projectId' in e.data) remember(this.projectOf, buildId, e.data.projectId);
    await inSpan('git-status.report', { [Attr.buildId]: buildId, [Attr.eventType]: e.type }, async () => {
      const projectId = this.projectOf.get(buildId);
      let hosted = projectId === undefined ? undefined : await this.hostedOf(projectId);
      if (hosted === null) return; // nowhere to report: the build is not even read
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const { state } = await this.store.load(this.aggs.build, this.names.subjects.build(buildId));
        if (state.status === 'none') return;
        remember(this.projectOf, buildId, state.projectId);
        hosted ??= await this.hostedOf(state.projectId);
        if (!hosted) return;
        const more = await this.report(state, hosted, deliveryCount);
        if (!more) return;
      }
    });
  }

  /** Sends the build's current status if it is new; true when a non-final one was sent (the build may have moved on meanwhile). */
  private async report(build: ExistingBuild, hosted: Hosted, deliveryCount: number): Promise<boolean> {
    const sha = build.source.sha;
    if (!sha) return false; // a manual build by ref: reported once PipelineLoaded resolved the commit
    const status = desiredStatus(build);
    const key = `${sha}|${status.phase}|${status.description}`;
    if (this.sent.get(build.buildId) === key) return false;
    const { githubApiUrl, gitlabApiUrl, publicUrl } = this.cfg;
    const target: StatusTarget = { ...hosted, sha, branch: build.source.branch, targetUrl: buildPageUrl(publicUrl, build.buildId), githubApiUrl, gitlabApiUrl };
    const req = statusRequest(target, status);
    const fields = { buildId: build.buildId, projectId: build.projectId, provider: target.repo.provider, sha, state: req.body.state, description: status.description };
    const outcome = await this.host.send(req);
    switch (outcome.kind) {
      case 'sent':
        remember(this.sent, build.buildId, key);
        this.log.info('commit status sent', fields);
        return !status.final;
      case 'drop':
        remember(this.sent, build.buildId, key);
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

  /** The project's repository and token; null (reason logged once per project) when its builds get no status. */
  private async hostedOf(projectId: string): Promise<Hosted | null> {
    const project = await this.projects.get(projectId);
    const reach = reachOf(project, project && this.tokenOf(project));
    return 'nowhere' in reach ? this.explain(projectId, reach.level, reach.nowhere) : reach;
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
}

/** Sets a key as the newest entry of a map that keeps at most MAX_BUILDS, forgetting the oldest. */
function remember(map: Map<string, string>, key: string, value: string): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_BUILDS) map.delete(map.keys().next().value as string);
}
