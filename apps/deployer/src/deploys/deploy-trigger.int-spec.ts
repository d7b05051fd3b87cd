import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deployIdForBuild } from '@kiln/contracts';
import { PipelineDeploy } from '@kiln/domain';
import { Logger } from '@kiln/telemetry';
import { DeployTestbed, FIXTURE_APP } from '../../test/deploy-testbed';
import { DeployTrigger } from './deploy-trigger';

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'Kiln Test', GIT_AUTHOR_EMAIL: 'test@kiln.local', GIT_COMMITTER_NAME: 'Kiln Test', GIT_COMMITTER_EMAIL: 'test@kiln.local' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

/**
 * The trigger on real NATS JetStream and a real git repository: what `PipelineLoaded` says about
 * the pipeline's deploy decides whether the release is fetched at all.
 */
describe('deploy trigger', () => {
  let bed: DeployTestbed;
  let trigger: DeployTrigger;
  let repo: string;
  let sha: string;
  let builds = 0;

  beforeAll(async () => {
    bed = await DeployTestbed.create();
    trigger = new DeployTrigger(bed.store, bed.aggs, bed.names, bed.runner, join(bed.tmp, 'releases'), new Logger('deploy-trigger-test'));
    repo = join(bed.tmp, 'repo');
    mkdirSync(repo);
    git(repo, 'init', '-q', '-b', 'main');
    const start = `VERSION=v1 exec node ${JSON.stringify(FIXTURE_APP)}`;
    writeFileSync(join(repo, '.kiln.yml'), ['steps:', '  - name: test', '    run: "true"', 'deploy:', '  environment: shop', `  start: '${start}'`, '  instances: 1', ''].join('\n'));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'shop with a deploy section');
    sha = git(repo, 'rev-parse', 'HEAD');
  });

  afterAll(async () => {
    await bed.close();
  });

  /** Records a succeeded build of `repoUrl` at `sha` whose `PipelineLoaded` carries `deploy` (left out when undefined). */
  async function succeededBuild(repoUrl: string, deploy: PipelineDeploy | undefined): Promise<string> {
    const buildId = `b-trigger-${process.pid}-${++builds}`;
    const subject = bed.names.subjects.build(buildId);
    const now = new Date().toISOString();
    const cause = { correlationId: buildId };
    const source = { repoUrl, ref: 'refs/heads/main', sha: null, branch: 'main', author: null, message: null };
    await bed.store.handle(bed.aggs.build, subject, { type: 'RequestBuild', data: { buildId, projectId: 'p-trigger', trigger: 'push', deliveryId: null, source, requestedAt: now } }, cause);
    await bed.store.handle(bed.aggs.build, subject, { type: 'QueueBuild', now }, cause);
    await bed.store.handle(bed.aggs.build, subject, { type: 'StartBuild', workerId: 'w-1', attempt: 1, now }, cause);
    await bed.store.handle(bed.aggs.build, subject, { type: 'LoadPipeline', attempt: 1, sha, steps: [{ name: 'test' }], ...(deploy === undefined ? {} : { deploy }) }, cause);
    await bed.store.handle(bed.aggs.build, subject, { type: 'FinishBuild', attempt: 1, outcome: 'succeeded', reason: null, exitCode: 0, now }, cause);
    return buildId;
  }

  const deployEvents = async (buildId: string) => (await bed.events(deployIdForBuild(buildId))).map((e) => e.type);

  it('a build whose pipeline has no deploy section is not deployed, and its release is never fetched', async () => {
    const unreachable = join(bed.tmp, 'no-such-repo.git');
    const buildId = await succeededBuild(unreachable, null);
    expect(await trigger.onBuildSucceeded(buildId)).toEqual({ kind: 'no-deploy' });
    expect(await deployEvents(buildId)).toEqual([]);
    expect(existsSync(join(bed.tmp, 'releases', deployIdForBuild(buildId)))).toBe(false);
  });

  it('an older build that does not say reads the release itself (here: fails to fetch it)', async () => {
    const buildId = await succeededBuild(join(bed.tmp, 'no-such-repo.git'), undefined);
    expect(await trigger.onBuildSucceeded(buildId)).toMatchObject({ kind: 'rejected', reason: expect.stringContaining('cannot fetch the release') });
    expect(await deployEvents(buildId)).toEqual(['DeployFailed']);
  });

  it.each([
    ['names the environment', { environment: 'shop' }],
    ['does not say (an older agent)', undefined],
  ])('a build whose PipelineLoaded %s is deployed from its .kiln.yml, once', async (_what, deploy) => {
    const buildId = await succeededBuild(repo, deploy);
    const r = await trigger.onBuildSucceeded(buildId);
    if (r.kind !== 'started') throw new Error(`expected a started deploy, got ${JSON.stringify(r)}`);
    expect(await r.finished).toMatchObject({ status: 'live', environment: 'shop', sha });
    expect(await trigger.onBuildSucceeded(buildId)).toEqual({ kind: 'exists', deployId: r.deployId });
  }, 30_000);
});
