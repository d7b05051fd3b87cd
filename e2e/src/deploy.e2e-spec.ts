import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { GitFixture } from '../../tools/platform/git-fixture';
import { pidsWithEnv, Platform } from './harness';

/** The test app the deployer's own tests use: cold for WARM_AFTER_MS, reports VERSION. */
const APP = readFileSync(join(__dirname, '..', '..', 'apps', 'deployer', 'test', 'fixtures', 'warm-app.js'), 'utf8');

/** `GET /` through the edge router for `environment` (`Host: <environment>.localhost`). */
function edgeGet(edge: string, environment: string): Promise<{ status: number; body: string }> {
  const url = new URL(edge);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: '/', headers: { host: `${environment}.localhost` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Whether `pid` is a running process (not gone, not a zombie waiting to be reaped). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const pipeline = (version: string, deploy = true, app = 'WARM_AFTER_MS=1500') =>
  [
    'steps:',
    '  - name: test',
    '    run: node --check app.js',
    ...(deploy
      ? [
          'deploy:',
          '  environment: shop',
          `  start: VERSION=${version} ${app} node app.js`,
          '  instances: 2',
          '  warmup:',
          '    paths: [/]',
          '    timeout: 30s',
        ]
      : []),
    '',
  ].join('\n');

/**
 * Deploys end to end: a push whose pipeline has a `deploy` section builds, then the deployer
 * fetches the commit, starts the instances, warms them and switches the edge to them.
 */
describe('Kiln deploys end to end', () => {
  const platform = new Platform();
  const secret = 'e2e-deploy-secret';
  const fullName = 'kiln-e2e/shop';
  let repo: GitFixture;

  const push = async (sha: string): Promise<string> => {
    const r = await platform.githubPush({ repoUrl: repo.bare, fullName, sha, secret, message: 'deploy e2e' });
    expect(r.status).toBe(202);
    return r.body.buildId as string;
  };

  /** Waits until the build's deploy ended (live, failed or rolled back); returns it. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const finalDeploy = (buildId: string): Promise<any> =>
    platform.eventually(
      async () => {
        const r = await platform.call('GET', `/api/builds/${buildId}/deploys`);
        const d = r.body?.items?.[0];
        return d && d.status !== 'deploying' ? d : undefined;
      },
      60_000,
      `the deploy of build ${buildId}`,
    );

  beforeAll(async () => {
    await platform.start();
    repo = new GitFixture(platform.tmp, 'shop');
    const created = await platform.call('POST', '/api/projects', { name: 'shop', repoUrl: repo.bare, provider: 'github', webhookSecret: secret });
    expect(created.status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await platform.dispose();
  }, 60_000);

  let firstDeployId: string;
  let servingDeployId: string;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const deployOf = async (deployId: string): Promise<any> => (await platform.call('GET', `/api/deploys/${deployId}`)).body;
  const eventTypes = async (deployId: string): Promise<string[]> =>
    (await platform.call('GET', `/api/deploys/${deployId}/events`)).body.items.map((e: { type: string }) => e.type);
  /** What shop's edge answers for `n` requests: versions (or `<status>` for a non-200). */
  const shopVersions = async (n: number): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await edgeGet(platform.edge, 'shop');
      out.push(r.status === 200 ? JSON.parse(r.body).version : String(r.status));
    }
    return out;
  };

  it('a push with a deploy section builds, deploys behind the warm-up gate, and the edge serves it', async () => {
    const buildId = await push(repo.commit({ '.kiln.yml': pipeline('v1'), 'app.js': APP }, 'shop v1'));
    expect((await platform.finalBuild(buildId, 60_000)).status).toBe('succeeded');
    const deploy = await finalDeploy(buildId);
    expect(deploy).toMatchObject({ buildId, status: 'live', environment: 'shop', previousDeployId: null });
    expect(deploy.instances.map((i: { status: string }) => i.status)).toEqual(['warm', 'warm']);
    firstDeployId = deploy.id;

    const events = await platform.call('GET', `/api/deploys/${deploy.id}/events`);
    const types: string[] = events.body.items.map((e: { type: string }) => e.type);
    expect(types[0]).toBe('DeployStarted');
    expect(types.filter((t) => t === 'InstanceStarted')).toHaveLength(2);
    expect(types).toContain('InstanceWarming');
    expect(types.filter((t) => t === 'InstanceWarm')).toHaveLength(2);
    expect(types[types.length - 1]).toBe('TrafficSwitched');
    for (const w of events.body.items.filter((e: { type: string }) => e.type === 'InstanceWarm')) expect(w.data.tookMs).toBeGreaterThanOrEqual(1000);

    const r = await edgeGet(platform.edge, 'shop');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ version: 'v1', host: 'shop.localhost' });
  }, 120_000);

  it('the next push switches the edge to the new version; the old one drains', async () => {
    const buildId = await push(repo.commit({ '.kiln.yml': pipeline('v2') }, 'shop v2'));
    const deploy = await finalDeploy(buildId);
    expect(deploy).toMatchObject({ status: 'live', environment: 'shop' });
    const switched = (await platform.call('GET', `/api/deploys/${deploy.id}/events`)).body.items.find((e: { type: string }) => e.type === 'TrafficSwitched');
    expect(switched.data.previousDeployId).toBe(firstDeployId);
    servingDeployId = deploy.id;
    for (let i = 0; i < 6; i++) expect(JSON.parse((await edgeGet(platform.edge, 'shop')).body).version).toBe('v2');
  }, 120_000);

  it('a bad deploy section fails the deploy naming the line, and the edge keeps serving', async () => {
    const bad = pipeline('v3').replace('  instances: 2', '  instances: many');
    const buildId = await push(repo.commit({ '.kiln.yml': bad }, 'shop v3 broken deploy'));
    expect((await platform.finalBuild(buildId, 60_000)).status).toBe('succeeded');
    const deploy = await finalDeploy(buildId);
    expect(deploy).toMatchObject({ status: 'failed', reason: '.kiln.yml line 7, column 14: deploy.instances: expected a number, got a string' });
    expect(JSON.parse((await edgeGet(platform.edge, 'shop')).body).version).toBe('v2');
  }, 120_000);

  it('a build without a deploy section has no deploy', async () => {
    const buildId = await push(repo.commit({ '.kiln.yml': pipeline('v4', false) }, 'no deploy'));
    expect((await platform.finalBuild(buildId, 60_000)).status).toBe('succeeded');
    await new Promise((r) => setTimeout(r, 1000));
    expect((await platform.call('GET', `/api/builds/${buildId}/deploys`)).body).toEqual({ items: [] });
    expect((await platform.call('GET', '/api/deploys/d-unknown')).status).toBe(404);
  }, 120_000);

  describe('deployer restarts', () => {
    it('killed (-9) while shop serves: the instances keep running and the restarted deployer adopts them', async () => {
      const before = await deployOf(servingDeployId);
      expect(before).toMatchObject({ status: 'live', environment: 'shop' });
      const pids: number[] = before.instances.map((i: { pid: number }) => i.pid);
      expect(pids).toHaveLength(2);
      const eventsBefore = await eventTypes(servingDeployId);

      await platform.crashAndRestart('deployer');

      // the instances outlived the deployer (their output goes to files, not to its pipes)
      expect(pids.filter((p) => !running(p))).toEqual([]);
      // the edge re-learned shop's release from the deploy events: served at once, by the same processes
      expect(await shopVersions(6)).toEqual(['v2', 'v2', 'v2', 'v2', 'v2', 'v2']);
      const served = new Set<number>();
      for (let i = 0; i < 6; i++) served.add(JSON.parse((await edgeGet(platform.edge, 'shop')).body).pid);
      expect([...served].sort()).toEqual([...pids].sort());
      const after = await deployOf(servingDeployId);
      expect(after).toMatchObject({ status: 'live', instances: [{ status: 'warm' }, { status: 'warm' }] });
      expect(await eventTypes(servingDeployId)).toEqual(eventsBefore);
    }, 120_000);

    it('killed (-9) mid warm-up: the deploy fails saying so, its instances are stopped, the old version keeps serving', async () => {
      // cold for 10 minutes: still warming when the deployer is killed
      const buildId = await push(repo.commit({ '.kiln.yml': pipeline('v5', true, 'WARM_AFTER_MS=600000') }, 'shop v5 slow to warm'));
      expect((await platform.finalBuild(buildId, 60_000)).status).toBe('succeeded');
      const warming = await platform.eventually(
        async () => {
          const d = (await platform.call('GET', `/api/builds/${buildId}/deploys`)).body.items?.[0];
          return d?.instances.length === 2 && d.instances.every((i: { status: string; observation: string | null }) => i.status === 'warming' && i.observation) ? d : undefined;
        },
        60_000,
        'both instances of v5 warming',
      );
      const instances: { pid: number; port: number }[] = warming.instances;
      expect(instances.filter((i) => !running(i.pid))).toEqual([]);

      await platform.crashAndRestart('deployer');

      // ready means recovered: the deploy has its final state already
      const failed = await deployOf(warming.id);
      expect(failed).toMatchObject({ status: 'failed', reason: 'the deployer restarted during the deploy' });
      // never left warming: its instances show as stopped with it
      expect(failed.instances.map((i: { status: string }) => i.status)).toEqual(['stopped', 'stopped']);
      const types = await eventTypes(warming.id);
      expect(types[types.length - 1]).toBe('DeployFailed');
      expect(types).not.toContain('TrafficSwitched');
      // no orphan: the new instances are gone, and so is every process they started (all carry the deploy's id);
      // not 'nothing listens on their ports': suites side by side take free ports, and one may get a freed one
      expect(instances.filter((i) => running(i.pid))).toEqual([]);
      expect(pidsWithEnv(`KILN_DEPLOY_ID=${warming.id}`)).toEqual([]);
      // the old version kept serving (adopted, not restarted)
      expect(await shopVersions(4)).toEqual(['v2', 'v2', 'v2', 'v2']);
      expect(await deployOf(servingDeployId)).toMatchObject({ status: 'live' });
    }, 180_000);

    it('stopped gracefully: its instances stop with it; the restarted deployer starts them again behind the warm-up gate', async () => {
      const before = await deployOf(servingDeployId);
      const pids: number[] = before.instances.map((i: { pid: number }) => i.pid);
      await platform.restart('deployer', async () => {
        // a graceful stop leaves nothing running
        expect(pids.filter((p) => running(p))).toEqual([]);
      });
      // started again: cold for 1.5 s, and no request reaches a cold instance (503 from the edge until one is warm)
      const seen: string[] = [];
      await platform.eventually(
        async () => {
          const r = await edgeGet(platform.edge, 'shop');
          seen.push(r.status === 200 ? JSON.parse(r.body).version : String(r.status));
          return r.status === 200 ? true : undefined;
        },
        30_000,
        'shop served again',
      );
      expect(seen.filter((v) => v !== 'v2' && v !== '503')).toEqual([]);
      const after = await platform.eventually(async () => {
        const d = await deployOf(servingDeployId);
        return d.instances.every((i: { status: string }) => i.status === 'warm') ? d : undefined;
      }, 30_000, 'both instances warm again');
      expect(after.status).toBe('live');
      expect(after.instances.map((i: { pid: number }) => i.pid).filter((p: number) => pids.includes(p))).toEqual([]);
      const types = await eventTypes(servingDeployId);
      const tail = types.slice(types.lastIndexOf('TrafficSwitched') + 1);
      expect(tail.filter((t) => t === 'InstanceFailed')).toHaveLength(2);
      expect(tail.filter((t) => t === 'InstanceStarted')).toHaveLength(2);
      expect(tail.filter((t) => t === 'InstanceWarm')).toHaveLength(2);
      expect(await shopVersions(4)).toEqual(['v2', 'v2', 'v2', 'v2']);
    }, 120_000);
  });
});
