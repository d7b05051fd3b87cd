import { join } from 'node:path';
import { deployIdForBuild, KilnNames } from '@kiln/contracts';
import { Deploy } from '@kiln/domain';
import { Aggregates, createAggregate, EventStore } from '@kiln/event-store';
import { formatPipelineError, parseDeploy } from '@kiln/pipeline';
import { Logger } from '@kiln/telemetry';
import { ReleaseCheckout } from '../release/release-checkout';
import { DeployRunner } from './deploy-runner';

/** What {@link DeployTrigger.onBuildSucceeded} did. */
export type TriggerResult =
  | { kind: 'no-deploy' }
  | { kind: 'exists'; deployId: string }
  | { kind: 'rejected'; deployId: string; reason: string }
  | { kind: 'started'; deployId: string; finished: Promise<Deploy> };

/**
 * Turns a succeeded build into a deploy: fetches the build's commit into a release directory,
 * reads the `deploy` section of its `.kiln.yml`, records `DeployStarted` (or `DeployFailed`
 * naming the line and column of a bad section) and hands the deploy to the runner. A build
 * whose `PipelineLoaded` says its pipeline has no `deploy` section is skipped without a fetch.
 * The deploy id derives from the build id, so a redelivered `BuildSucceeded` never deploys twice.
 */
export class DeployTrigger {
  constructor(
    private readonly store: EventStore,
    private readonly aggs: Aggregates,
    private readonly names: KilnNames,
    private readonly runner: DeployRunner,
    private readonly releasesDir: string,
    private readonly log: Logger,
  ) {}

  async onBuildSucceeded(buildId: string): Promise<TriggerResult> {
    // The build first: most builds do not deploy, and the agent recorded that when it loaded
    // the pipeline (same commit, same parser), so they cost one read and no git. A deploy is
    // only ever created for a build that deploys, so skipping before the deploy's own stream is
    // read keeps a redelivery idempotent. Unknown (`undefined`: an older agent, or a `deploy`
    // section that does not parse) takes the path below, which reads the file itself.
    const build = (await this.store.load(this.aggs.build, this.names.subjects.build(buildId))).state;
    if (build.status !== 'succeeded' || build.deploy === null) return { kind: 'no-deploy' };

    const deployId = deployIdForBuild(buildId);
    const subject = this.names.subjects.deploy(deployId);
    const existing = await this.store.load(this.aggs.deploy, subject);
    if (existing.state.status !== 'none') return { kind: 'exists', deployId };

    const { repoUrl, ref, sha } = build.source;
    if (!sha) {
      this.log.warn('succeeded build without a commit sha: not deployed', { buildId });
      return { kind: 'no-deploy' };
    }
    const release = new ReleaseCheckout(join(this.releasesDir, deployId), { repoUrl, sha, ref });
    const reject = async (reason: string): Promise<TriggerResult> => {
      await release.remove().catch(() => undefined);
      await createAggregate(this.store, this.aggs.deploy, subject, { type: 'RejectDeploy', deployId, buildId, projectId: build.projectId, reason, now: new Date().toISOString() }, { correlationId: buildId });
      this.log.warn('deploy rejected', { buildId, deployId, reason });
      return { kind: 'rejected', deployId, reason };
    };

    let text: string | null;
    try {
      text = await release.readPipeline();
    } catch (e) {
      return reject(`cannot fetch the release: ${(e as Error).message}`);
    }
    const parsed = text === null ? ({ ok: true, deploy: null } as const) : parseDeploy(text);
    if (!parsed.ok) return reject(formatPipelineError(parsed.error));
    if (parsed.deploy === null) {
      await release.remove().catch(() => undefined);
      return { kind: 'no-deploy' };
    }
    try {
      await release.checkout();
    } catch (e) {
      return reject(`cannot check out the release: ${(e as Error).message}`);
    }
    const spec = parsed.deploy;
    const { created } = await createAggregate(
      this.store,
      this.aggs.deploy,
      subject,
      {
        type: 'StartDeploy',
        data: {
          deployId,
          buildId,
          projectId: build.projectId,
          sha,
          environment: spec.environment,
          spec,
          previousDeployId: this.runner.liveDeployId(spec.environment),
          releaseDir: release.dir,
          startedAt: new Date().toISOString(),
        },
      },
      { correlationId: buildId },
    );
    if (!created) return { kind: 'exists', deployId };
    this.log.info('deploy started', { buildId, deployId, environment: spec.environment });
    const state = (await this.store.load(this.aggs.deploy, subject)).state;
    if (state.status === 'none') return { kind: 'exists', deployId };
    return { kind: 'started', deployId, finished: this.runner.run(state) };
  }
}
