import { join } from 'node:path';
import { instanceIdOf } from '@kiln/contracts';
import { Logger } from '@kiln/telemetry';
import { alive, DeployTestbed, edgeGet, eventually, FIXTURE_APP, LoadLoop, TEST_RUNNER_OPTIONS } from '../../test/deploy-testbed';
import { EdgeRouter } from '../edge/edge-router';
import { EdgeServer } from '../edge/edge-server';
import { InstanceProcess } from '../runtime/instance-process';
import { DeployRunner } from './deploy-runner';

/**
 * Deploys with the warm-up gate on real NATS JetStream, real processes and real HTTP: the
 * fixture app (test/fixtures/warm-app.js) behind the edge router, a load loop through the edge.
 */
describe('deploy runner and edge router', () => {
  let bed: DeployTestbed;
  const ENV = 'web';

  beforeAll(async () => {
    bed = await DeployTestbed.create();
  });

  afterAll(async () => {
    await bed.close();
  });

  const types = async (deployId: string) => (await bed.events(deployId)).map((e) => e.type);

  it('first deploy: the environment answers 503 until its instances are warm, then serves them', async () => {
    expect((await edgeGet(bed.edgePort, ENV)).status).toBe(404); // no such environment yet
    const { deployId, finished } = await bed.deploy({ environment: ENV, version: 'v1', app: { WARM_AFTER_MS: '1000' } });
    const during = await eventually(async () => {
      const r = await edgeGet(bed.edgePort, ENV);
      return r.status === 404 ? undefined : r;
    }, 900, 'the environment to be known');
    expect(during).toMatchObject({ status: 503, error: expect.stringContaining('has no running instance') });
    const final = await finished;
    expect(final).toMatchObject({ status: 'live' });
    const r = await edgeGet(bed.edgePort, ENV);
    expect(r).toMatchObject({ status: 200, version: 'v1' });
    expect(await types(deployId)).toEqual(
      expect.arrayContaining(['DeployStarted', 'InstanceStarted', 'InstanceWarming', 'InstanceWarm', 'TrafficSwitched']),
    );
  });

  it('an app that needs 3 s to warm gets no user traffic before it is warm; then only it does', async () => {
    let switchedAt = Infinity;
    const off = bed.router.onSwap((env) => {
      if (env === ENV && switchedAt === Infinity) switchedAt = performance.now();
    });
    const old = bed.router.backends(ENV).map((b) => b.port);
    const load = new LoadLoop(bed.edgePort, ENV, 4);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const { deployId, finished } = await bed.deploy({ environment: ENV, version: 'v2', app: { WARM_AFTER_MS: '3000' } });
    const final = await finished;
    await new Promise((r) => setTimeout(r, 300));
    const samples = await load.stop();
    off();

    expect(final).toMatchObject({ status: 'live' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    // zero errors, all the way through
    expect(samples.filter((s) => s.status !== 200)).toEqual([]);
    // zero responses from the new version before the switch ...
    const v2 = samples.filter((s) => s.version === 'v2');
    expect(v2.length).toBeGreaterThan(0);
    expect(v2.filter((s) => s.end < switchedAt)).toEqual([]);
    // ... then only the new version
    const after = samples.filter((s) => s.start > switchedAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((s) => s.version !== 'v2')).toEqual([]);
    expect(samples.filter((s) => s.version === 'v1' && s.end < switchedAt).length).toBeGreaterThan(10);

    // the new instances themselves never saw a user request while cold
    const events = await bed.events(deployId);
    const started = events.filter((e) => e.type === 'InstanceStarted').map((e) => e.data as { port: number; pid: number });
    for (const { port } of started) {
      const stats = await fetch(`http://127.0.0.1:${port}/stats`).then((r) => r.json() as Promise<{ coldUserHits: number; version: string }>);
      expect(stats).toMatchObject({ version: 'v2', coldUserHits: 0 });
    }
    const warm = events.filter((e) => e.type === 'InstanceWarm').map((e) => e.data as { tookMs: number });
    expect(warm).toHaveLength(2);
    for (const w of warm) expect(w.tookMs).toBeGreaterThanOrEqual(2500);
    expect(events.map((e) => e.type).slice(-1)).toEqual(['TrafficSwitched']);
    // the old instances drained and stopped
    await eventually(async () => {
      const answers = await Promise.all(old.map((p) => fetch(`http://127.0.0.1:${p}/stats`).then(() => true, () => false)));
      return answers.every((a) => !a) ? true : undefined;
    }, 10_000, 'old instances to stop');
  });

  it('an app that never warms leaves the old version serving and the deploy failed at the timeout', async () => {
    const load = new LoadLoop(bed.edgePort, ENV, 2);
    const t0 = Date.now();
    const { deployId, finished } = await bed.deploy({ environment: ENV, version: 'v3', app: { NEVER_WARM: '1' }, warmup: { timeoutMs: 1500, maxTimeoutMs: 6000, requestTimeoutMs: 500 } });
    const final = await finished;
    const took = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 200));
    const samples = await load.stop();

    expect(final).toMatchObject({ status: 'failed' });
    // (on a loaded machine the last probe may be the one the deadline cut short)
    expect(final.status !== 'none' && final.reason).toMatch(/^instance \d not warm after 1\.5s \(no warm-up signal seen\): last GET \/: (503|no answer within \d+ms \(hanging\))$/);
    expect(took).toBeGreaterThanOrEqual(1500);
    expect(took).toBeLessThan(6000);
    expect(samples.length).toBeGreaterThan(10);
    expect(samples.filter((s) => s.status !== 200 || s.version !== 'v2')).toEqual([]);
    const events = await bed.events(deployId);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['InstanceWarming', 'InstanceFailed', 'DeployFailed']));
    expect(events.map((e) => e.type)).not.toContain('TrafficSwitched');
    const pids = events.filter((e) => e.type === 'InstanceStarted').map((e) => (e.data as { pid: number }).pid);
    await eventually(() => (pids.every((p) => !alive(p)) ? true : undefined), 5000, 'new instances to stop');
  });

  it('an instance that signals it is warming up gets maxTimeout, not timeout', async () => {
    const t0 = Date.now();
    const { deployId, finished } = await bed.deploy({
      environment: ENV,
      version: 'v4',
      instances: 1,
      app: { NEVER_WARM: '1', WARM_MODE: 'header' },
      warmup: { timeoutMs: 1000, maxTimeoutMs: 2500, requestTimeoutMs: 500 },
    });
    const final = await finished;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2500);
    expect(final.status !== 'none' && final.reason).toBe('instance 1 not warm after 2.5s (X-AppInit-WarmingUp seen): last GET /: 200 with X-AppInit-WarmingUp: 1');
    const warming = (await bed.events(deployId)).filter((e) => e.type === 'InstanceWarming').map((e) => e.data);
    expect(warming[warming.length - 1]).toMatchObject({ signalSeen: true, limitMs: 2500, observation: '200 with X-AppInit-WarmingUp: 1' });
    expect((await edgeGet(bed.edgePort, ENV)).version).toBe('v2');
  });

  it('a crash of a new instance during the deploy rolls back', async () => {
    const load = new LoadLoop(bed.edgePort, ENV, 2);
    const { deployId, finished } = await bed.deploy({ environment: ENV, version: 'v5', app: { WARM_AFTER_MS: '5000', CRASH_AFTER_MS: '700' } });
    const final = await finished;
    const samples = await load.stop();

    expect(final).toMatchObject({ status: 'rolled_back' });
    // the reason ends with what the instance printed last (read from its log file)
    expect(final.status !== 'none' && final.reason).toMatch(/^instance \d exited with code 3 \(last output: v5 (listening on \d+|GET \/)( \| v5 (listening on \d+|GET \/))*\)$/);
    const events = await bed.events(deployId);
    const types = events.map((e) => e.type);
    expect(types).toContain('InstanceFailed');
    expect(types[types.length - 1]).toBe('DeployRolledBack');
    expect(types).not.toContain('TrafficSwitched');
    expect(events.find((e) => e.type === 'InstanceFailed')?.data).toMatchObject({ cause: 'crashed' });
    expect(samples.filter((s) => s.status !== 200 || s.version !== 'v2')).toEqual([]);
    const pids = events.filter((e) => e.type === 'InstanceStarted').map((e) => (e.data as { pid: number }).pid);
    await eventually(() => (pids.every((p) => !alive(p)) ? true : undefined), 5000, 'new instances to stop');
    expect((await edgeGet(bed.edgePort, ENV)).version).toBe('v2');
  });

  it('a crashed live instance is taken out of rotation at once', async () => {
    const backends = bed.router.backends(ENV);
    expect(backends).toHaveLength(2);
    const [victim] = backends;
    const live = await bed.events(victim.deployId);
    const pid = (live.find((e) => e.type === 'InstanceStarted' && e.data.instanceId === victim.instanceId)!.data as { pid: number }).pid;
    process.kill(pid, 'SIGKILL');
    await eventually(() => (bed.router.backends(ENV).length === 1 ? true : undefined), 2000, 'the instance to leave rotation');
    const after = await Promise.all(Array.from({ length: 20 }, () => edgeGet(bed.edgePort, ENV)));
    expect(after.filter((s) => s.status !== 200)).toEqual([]);
    const failed = await eventually(async () => (await bed.events(victim.deployId)).find((e) => e.type === 'InstanceFailed'), 5000, 'InstanceFailed');
    expect(failed.data).toMatchObject({ instanceId: victim.instanceId, cause: 'crashed', reason: expect.stringMatching(/^killed by SIGKILL \(last output: (v2 GET \/\S*( \| )?)+\)$/) });
  });

  it('an instance failing its health checks leaves rotation within seconds and is stopped', async () => {
    const { finished } = await bed.deploy({ environment: 'sick', version: 's1', app: { SICK_AFTER_MS: '1500', SICK_INSTANCE: '2' } });
    expect(await finished).toMatchObject({ status: 'live' });
    expect(bed.router.backends('sick')).toHaveLength(2);
    const t0 = Date.now();
    await eventually(() => (bed.router.backends('sick').length === 1 ? true : undefined), 5000, 'the sick instance to leave rotation');
    expect(Date.now() - t0).toBeLessThan(4000);
    const rest = await Promise.all(Array.from({ length: 10 }, () => edgeGet(bed.edgePort, 'sick')));
    expect(rest.filter((s) => s.status !== 200)).toEqual([]);
    const deployId = bed.router.backends('sick')[0].deployId;
    const failed = await eventually(async () => (await bed.events(deployId)).find((e) => e.type === 'InstanceFailed'), 5000, 'InstanceFailed');
    expect(failed.data).toMatchObject({ cause: 'unhealthy', reason: expect.stringMatching(/^failed 2 health checks in a row \(last: GET \/: 500\)$/) });
  });

  it('after the switch the old instances finish the requests they have in flight, then stop', async () => {
    const { deployId: oldId, finished: first } = await bed.deploy({ environment: 'drain', version: 'd1' });
    expect(await first).toMatchObject({ status: 'live' });
    const oldPids = (await bed.events(oldId)).filter((e) => e.type === 'InstanceStarted').map((e) => (e.data as { pid: number }).pid);
    let switchedAt = Infinity;
    const off = bed.router.onSwap((env) => {
      if (env === 'drain' && switchedAt === Infinity) switchedAt = performance.now();
    });
    // longer than the old app's own shutdown (500 ms after SIGTERM): only a drain lets it finish
    const slow = edgeGet(bed.edgePort, 'drain', '/work?delay=1500');
    await eventually(() => (bed.router.backends('drain').some((b) => b.inflight > 0) ? true : undefined), 2000, 'the slow request in flight');

    const { finished } = await bed.deploy({ environment: 'drain', version: 'd2' });
    expect(await finished).toMatchObject({ status: 'live' });
    off();
    const r = await slow;
    // the switch came while the request was on an old instance; it finished there
    expect(switchedAt).toBeLessThan(r.end);
    expect(r).toMatchObject({ status: 200, version: 'd1' });
    expect(await edgeGet(bed.edgePort, 'drain')).toMatchObject({ status: 200, version: 'd2' });
    // ... and then the old instances stopped
    await eventually(() => (oldPids.every((p) => !alive(p)) ? true : undefined), 5000, 'old instances to stop');
  });

  it('the edge answers 404 for a host that names no environment', async () => {
    const r = await fetch(`http://127.0.0.1:${bed.edgePort}/`);
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ error: 'not_found', message: expect.stringContaining('<environment>.localhost') });
  });
});

describe('deployer restart', () => {
  let bed: DeployTestbed;
  beforeAll(async () => {
    bed = await DeployTestbed.create();
  });
  afterAll(async () => {
    await bed.close();
  });

  it('a new deployer adopts the live instances a killed one left running, and notices when one ends', async () => {
    const { deployId, finished } = await bed.deploy({ environment: 'kept', version: 'k1' });
    expect(await finished).toMatchObject({ status: 'live' });
    const state = (await bed.store.load(bed.aggs.deploy, bed.names.subjects.deploy(deployId))).state;
    if (state.status === 'none') throw new Error('no deploy');

    // a second runner on a fresh router, as after a restart (the first one's instances still run)
    const router = new EdgeRouter();
    const edge = new EdgeServer(router, new Logger('deployer-test-2'));
    const port = await edge.start(0, '127.0.0.1');
    const runner = new DeployRunner(bed.store, bed.aggs.deploy, bed.names, router, new Logger('deployer-test-2'), { ...TEST_RUNNER_OPTIONS, releasesDir: join(bed.tmp, 'releases') });
    try {
      const resumed = await runner.recover([state], new Map([['kept', deployId]]));
      expect(resumed).toEqual([]);
      expect(runner.liveDeployId('kept')).toBe(deployId);
      expect(router.backends('kept').map((b) => b.instanceId)).toEqual(state.instances.map((i) => i.instanceId));
      expect(await edgeGet(port, 'kept')).toMatchObject({ status: 200, version: 'k1' });

      process.kill(state.instances[0].pid, 'SIGKILL');
      await eventually(() => (router.backends('kept').length === 1 ? true : undefined), 4000, 'the dead instance to leave rotation');
      expect(await edgeGet(port, 'kept')).toMatchObject({ status: 200, version: 'k1' });
    } finally {
      await edge.stop();
      await runner.shutdown();
    }
    // (here the instances are children of this test process, reaped a moment after they end)
    await eventually(() => (state.instances.every((i) => !alive(i.pid)) ? true : undefined), 3000, 'the adopted instances to stop');
  });

  it('a deploy interrupted after it started instances is failed at restart; one that had not is run', async () => {
    const router = new EdgeRouter();
    const runner = new DeployRunner(bed.store, bed.aggs.deploy, bed.names, router, new Logger('deployer-test-3'), { ...TEST_RUNNER_OPTIONS, releasesDir: join(bed.tmp, 'releases') });
    try {
      // recorded as started by a deployer that died before running it
      const queued = await bed.record({ environment: 'resumed', version: 'r1' });
      const interrupted = await bed.record({ environment: 'broken', version: 'b1' });
      await bed.store.handle(bed.aggs.deploy, bed.names.subjects.deploy(interrupted.deployId), { type: 'StartInstance', index: 1, pid: 999_999, port: 1, now: new Date().toISOString() }, { correlationId: 't' });
      const load = async (id: string) => {
        const s = (await bed.store.load(bed.aggs.deploy, bed.names.subjects.deploy(id))).state;
        if (s.status === 'none') throw new Error('no deploy');
        return s;
      };
      const resume = await runner.recover([await load(queued.deployId), await load(interrupted.deployId)], new Map());
      expect(resume.map((d) => d.deployId)).toEqual([queued.deployId]);
      expect(await load(interrupted.deployId)).toMatchObject({ status: 'failed', reason: 'the deployer restarted during the deploy' });
      expect(await runner.run(resume[0])).toMatchObject({ status: 'live' });
      expect(router.backends('resumed')).toHaveLength(2);
    } finally {
      await runner.shutdown();
    }
  });

  const newRunner = (router: EdgeRouter, name: string) =>
    new DeployRunner(bed.store, bed.aggs.deploy, bed.names, router, new Logger(name), { ...TEST_RUNNER_OPTIONS, releasesDir: join(bed.tmp, 'releases') });
  const loadDeploy = async (id: string) => {
    const s = (await bed.store.load(bed.aggs.deploy, bed.names.subjects.deploy(id))).state;
    if (s.status === 'none') throw new Error('no deploy');
    return s;
  };

  it('live instances gone at restart start again behind the warm-up gate; the edge serves them once warm', async () => {
    // a first deployer runs the deploy, then stops gracefully (its instances stop with it)
    const first = newRunner(new EdgeRouter(), 'deployer-test-4');
    const { deployId, state: started } = await bed.record({ environment: 'revived', version: 'r1', app: { WARM_AFTER_MS: '1200' } });
    expect(await first.run(started)).toMatchObject({ status: 'live' });
    const live = await loadDeploy(deployId);
    await first.shutdown();
    expect(live.instances.filter((i) => alive(i.pid))).toEqual([]);

    const router = new EdgeRouter();
    const edge = new EdgeServer(router, new Logger('deployer-test-5'));
    const port = await edge.start(0, '127.0.0.1');
    const runner = newRunner(router, 'deployer-test-5');
    try {
      expect(await runner.recover([live], new Map([['revived', deployId]]))).toEqual([]);
      // the environment is known at once; it has no warm instance yet
      expect(runner.liveDeployId('revived')).toBe(deployId);
      expect(await edgeGet(port, 'revived')).toMatchObject({ status: 503 });
      const load = new LoadLoop(port, 'revived', 2);
      await eventually(() => (router.backends('revived').length === 2 ? true : undefined), 15_000, 'both instances back in rotation');
      await new Promise((r) => setTimeout(r, 200));
      const samples = await load.stop();
      // before: the edge's 503 (no instance); after: the release; never an error from a cold instance
      expect(samples.filter((x) => x.status !== 503 && !(x.status === 200 && x.version === 'r1'))).toEqual([]);
      expect(samples.filter((x) => x.status === 200).length).toBeGreaterThan(0);

      const again = await loadDeploy(deployId);
      expect(again).toMatchObject({ status: 'live', instances: [{ status: 'warm' }, { status: 'warm' }] });
      for (const i of again.instances) {
        expect(live.instances.map((x) => x.pid)).not.toContain(i.pid);
        const stats = (await fetch(`http://127.0.0.1:${i.port}/stats`).then((r) => r.json())) as { coldUserHits: number };
        expect(stats.coldUserHits).toBe(0);
      }
      const events = await bed.events(deployId);
      const afterSwitch = events.slice(events.findIndex((e) => e.type === 'TrafficSwitched') + 1);
      expect(afterSwitch.filter((e) => e.type === 'InstanceFailed').map((e) => e.data)).toEqual([
        expect.objectContaining({ cause: 'crashed', reason: 'gone while the deployer was down' }),
        expect.objectContaining({ cause: 'crashed', reason: 'gone while the deployer was down' }),
      ]);
      expect(afterSwitch.filter((e) => e.type === 'InstanceStarted')).toHaveLength(2);
      expect(afterSwitch.filter((e) => e.type === 'InstanceWarm')).toHaveLength(2);
    } finally {
      await edge.stop();
      await runner.shutdown();
    }
  });

  it('an instance a killed deployer started but never recorded is stopped at restart', async () => {
    const { deployId, state } = await bed.record({ environment: 'stray', version: 's1' });
    const stray = InstanceProcess.spawn({
      instanceId: instanceIdOf(deployId, 1),
      deployId,
      command: `exec node ${JSON.stringify(FIXTURE_APP)}`,
      cwd: bed.tmp,
      port: 0,
      env: {},
      logFile: join(bed.tmp, 'stray.log'),
    });
    const unrelated = InstanceProcess.spawn({
      instanceId: 'd-not-ours-1',
      deployId: 'd-not-ours',
      command: `exec node ${JSON.stringify(FIXTURE_APP)}`,
      cwd: bed.tmp,
      port: 0,
      env: {},
      logFile: join(bed.tmp, 'unrelated.log'),
    });
    const runner = newRunner(new EdgeRouter(), 'deployer-test-6');
    try {
      await eventually(() => (alive(stray.pid) ? true : undefined), 2000, 'the stray to run');
      const resume = await runner.recover([state], new Map());
      // it had recorded no instance: it runs again, from the start, after the stray is gone
      expect(resume.map((d) => d.deployId)).toEqual([deployId]);
      await eventually(() => (alive(stray.pid) ? undefined : true), 5000, 'the stray to be stopped');
      expect(alive(unrelated.pid)).toBe(true); // an instance of a deploy this store does not know is none of its business
    } finally {
      await unrelated.stop(500);
      await runner.shutdown();
    }
  });
});
