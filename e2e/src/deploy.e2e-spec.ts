import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { dropSchema } from '@kiln/persistence';
import { GitFixture } from '../../tools/platform/git-fixture';
import { githubPush } from '../../tools/platform/github-push';
import { Platform } from './harness';

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

const pipeline = (version: string, deploy = true) =>
  [
    'steps:',
    '  - name: test',
    '    run: node --check app.js',
    ...(deploy
      ? [
          'deploy:',
          '  environment: shop',
          `  start: VERSION=${version} WARM_AFTER_MS=1500 node app.js`,
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
    const p = githubPush({ repoUrl: repo.bare, fullName, sha, secret, message: 'deploy e2e' });
    const r = await fetch(`${platform.api}/webhooks/github`, { method: 'POST', headers: p.headers, body: p.body });
    expect(r.status).toBe(202);
    return ((await r.json()) as { buildId: string }).buildId;
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
    await platform.stop();
    await dropSchema(platform.env.DATABASE_URL!, platform.namespace).catch(() => undefined);
  }, 60_000);

  let firstDeployId: string;

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
});
