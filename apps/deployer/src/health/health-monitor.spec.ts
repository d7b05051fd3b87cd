import type { WarmupSpec } from '@kiln/contracts';
import { eventually } from '../../test/deploy-testbed';
import { backendOf, EdgeRouter } from '../edge/edge-router';
import type { ProbeOptions, ProbeOutcome } from '../warmup/probe';
import { HealthMonitor } from './health-monitor';

const WARMUP: WarmupSpec = { paths: ['/health', '/'], hostName: null, header: 'X-AppInit-WarmingUp', timeoutMs: 1000, maxTimeoutMs: 1000, requestTimeoutMs: 1000 };
const OK: ProbeOutcome = { kind: 'answered', status: 200, warmingUp: null, location: null };
const WARMING: ProbeOutcome = { kind: 'answered', status: 200, warmingUp: '1', location: null };
const BROKEN: ProbeOutcome = { kind: 'answered', status: 500, warmingUp: null, location: null };

/** Health checks of live instances: what each port answers is set by the test. */
describe('HealthMonitor', () => {
  let monitor: HealthMonitor;
  afterEach(() => monitor.stopAll());

  const start = (answers: Map<number, ProbeOutcome[]>, failures = 2) => {
    const probed: ProbeOptions[] = [];
    monitor = new HealthMonitor({
      intervalMs: 10,
      timeoutMs: 1000,
      failures,
      probe: async (o) => {
        probed.push(o);
        const script = answers.get(o.port)!;
        return script.length > 1 ? script.shift()! : script[0];
      },
    });
    return probed;
  };
  const picks = (router: EdgeRouter, n: number) => new Set(Array.from({ length: n }, () => router.pick('prod')?.instanceId));

  it('an instance that sends the warming-up header again goes cold: the edge prefers warm ones, and uses all when none is warm', async () => {
    const answers = new Map([
      [1, [WARMING]],
      [2, [OK]],
    ]);
    const probed = start(answers);
    const router = new EdgeRouter();
    router.swap('prod', [backendOf('a', 'd1', 1), backendOf('b', 'd1', 2)]);
    const unhealthy: string[] = [];
    for (const b of router.backends('prod')) monitor.watch(b.instanceId, b.port, WARMUP, b, (why) => unhealthy.push(`${b.instanceId}: ${why}`));

    await eventually(() => (router.backends('prod')[0].warm ? undefined : true), 2000, 'a to go cold');
    expect(picks(router, 4)).toEqual(new Set(['b']));
    answers.set(2, [WARMING]);
    await eventually(() => (router.backends('prod')[1].warm ? undefined : true), 2000, 'b to go cold');
    expect(picks(router, 4)).toEqual(new Set(['a', 'b']));
    answers.set(1, [OK]);
    await eventually(() => (router.backends('prod')[0].warm ? true : undefined), 2000, 'a to be warm again');
    expect(picks(router, 4)).toEqual(new Set(['a']));

    // a warming-up signal is not a failure: both stay in rotation
    expect(unhealthy).toEqual([]);
    expect(router.backends('prod')).toHaveLength(2);
    expect(new Set(probed.map((o) => o.path))).toEqual(new Set(['/health']));
  });

  it('failed checks in a row make an instance unhealthy, once; an answer in between starts the count again', async () => {
    const probed = start(new Map([[1, [BROKEN, OK, BROKEN, { kind: 'refused' }, BROKEN]]]), 2);
    const unhealthy: string[] = [];
    monitor.watch('a', 1, WARMUP, backendOf('a', 'd1', 1), (why) => unhealthy.push(why));

    await eventually(() => (unhealthy.length > 0 ? true : undefined), 2000, 'a to be unhealthy');
    expect(probed).toHaveLength(4);
    await new Promise((r) => setTimeout(r, 100));
    expect(unhealthy).toEqual(['failed 2 health checks in a row (last: GET /health: connection refused)']);
    expect(probed).toHaveLength(4); // no longer watched
  });
});
