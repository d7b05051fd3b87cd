import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NatsConnection } from 'nats';
import { DeployEvent, deployIdForBuild, DeploySpec, kilnNames, KilnNames, Recorded, WarmupSpec } from '@kiln/contracts';
import { Deploy, ExistingDeploy } from '@kiln/domain';
import { aggregates, Aggregates, connectNats, createAggregate, deleteStreams, ensureStreams, EventStore } from '@kiln/event-store';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { Logger } from '@kiln/telemetry';
import { EdgeRouter } from '../src/edge/edge-router';
import { EdgeServer } from '../src/edge/edge-server';
import { DeployRunner, DeployRunnerOptions } from '../src/deploys/deploy-runner';

/** The test app: listens on $PORT, cold for WARM_AFTER_MS, reports VERSION (see the file). */
export const FIXTURE_APP = resolve(__dirname, 'fixtures', 'warm-app.js');

/** Fast settings for tests. */
export const TEST_RUNNER_OPTIONS: Omit<DeployRunnerOptions, 'releasesDir' | 'runtimes'> = {
  probeIntervalMs: 100,
  reportIntervalMs: 1000,
  health: { intervalMs: 200, timeoutMs: 1000, failures: 2 },
  drainTimeoutMs: 3000,
  stopGraceMs: 1000,
};

export interface TestDeploy {
  environment: string;
  version: string;
  /** Extra variables of the fixture app (WARM_AFTER_MS, WARM_MODE, NEVER_WARM, CRASH_AFTER_MS...). */
  app?: Record<string, string>;
  instances?: number;
  warmup?: Partial<WarmupSpec>;
  /** `deploy.image` (the docker runtime); `start` is then the container's command (null: the image's own). */
  image?: string;
  start?: string | null;
}

/**
 * A deploy runner and edge router on real NATS JetStream (own namespace) and real HTTP, with
 * deploys started as the trigger would start them (minus the git checkout).
 */
export class DeployTestbed {
  private builds = 0;
  readonly aggs: Aggregates;

  private constructor(
    readonly names: KilnNames,
    readonly nc: NatsConnection,
    readonly store: EventStore,
    readonly router: EdgeRouter,
    readonly edge: EdgeServer,
    readonly edgePort: number,
    readonly runner: DeployRunner,
    readonly tmp: string,
  ) {
    this.aggs = aggregates(names);
  }

  static async create(opts: Partial<DeployRunnerOptions> = {}): Promise<DeployTestbed> {
    const names = kilnNames(testNamespace('dep'));
    const nc = await connectNats(testNatsUrl(), 'deployer-test');
    const store = await EventStore.create(nc, names);
    await ensureStreams(store.jsm, names);
    const tmp = mkdtempSync(join(tmpdir(), 'kiln-deployer-'));
    const log = new Logger('deployer-test');
    const router = new EdgeRouter();
    const edge = new EdgeServer(router, log);
    const edgePort = await edge.start(0, '127.0.0.1');
    const releasesDir = join(tmp, 'releases');
    mkdirSync(releasesDir, { recursive: true });
    const runner = new DeployRunner(store, aggregates(names).deploy, names, router, log, { ...TEST_RUNNER_OPTIONS, ...opts, releasesDir });
    return new DeployTestbed(names, nc, store, router, edge, edgePort, runner, tmp);
  }

  /** Records `DeployStarted` for a new build and runs the deploy; `finished` resolves with its final state. */
  async deploy(d: TestDeploy): Promise<{ deployId: string; finished: Promise<Deploy> }> {
    const { deployId, state } = await this.record(d);
    return { deployId, finished: this.runner.run(state) };
  }

  /** Records `DeployStarted` for a new build (the release directory exists) without running it. */
  async record(d: TestDeploy): Promise<{ deployId: string; state: ExistingDeploy }> {
    const buildId = `b-${process.pid}-${++this.builds}-${Date.now().toString(36)}`;
    const deployId = deployIdForBuild(buildId);
    const releaseDir = join(this.tmp, 'releases', deployId);
    mkdirSync(releaseDir, { recursive: true });
    const vars = Object.entries({ VERSION: d.version, ...d.app }).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ');
    const spec: DeploySpec = {
      environment: d.environment,
      start: d.start !== undefined ? d.start : `${vars} exec node ${JSON.stringify(FIXTURE_APP)}`,
      image: d.image ?? null,
      instances: d.instances ?? 2,
      warmup: { paths: ['/'], hostName: null, header: 'X-AppInit-WarmingUp', timeoutMs: 10_000, maxTimeoutMs: 20_000, requestTimeoutMs: 1000, ...d.warmup },
    };
    await createAggregate(
      this.store,
      this.aggs.deploy,
      this.names.subjects.deploy(deployId),
      {
        type: 'StartDeploy',
        data: {
          deployId,
          buildId,
          projectId: 'p-deploy-test',
          sha: 'abcdef1234567',
          environment: d.environment,
          spec,
          previousDeployId: this.runner.liveDeployId(d.environment),
          releaseDir,
          startedAt: new Date().toISOString(),
        },
      },
      { correlationId: buildId },
    );
    const state = (await this.store.load(this.aggs.deploy, this.names.subjects.deploy(deployId))).state;
    if (state.status === 'none') throw new Error('deploy not created');
    return { deployId, state };
  }

  async events(deployId: string): Promise<Recorded<DeployEvent>[]> {
    return (await this.store.load(this.aggs.deploy, this.names.subjects.deploy(deployId))).events;
  }

  async close(): Promise<void> {
    await this.edge.stop();
    await this.runner.shutdown();
    await deleteStreams(this.store.jsm, this.names);
    await this.nc.drain();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** One request through the edge, as the load loop saw it. */
export interface Sample {
  start: number;
  end: number;
  status: number | null;
  version: string | null;
  error: string | null;
}

/** `GET path` with `Host: <environment>.localhost`; never rejects. */
export function edgeGet(port: number, environment: string, path = '/work', agent?: Agent): Promise<Sample> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: { host: `${environment}.localhost:${port}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        let version: string | null = null;
        try {
          version = (JSON.parse(body) as { version?: string }).version ?? null;
        } catch {
          /* not the app's JSON */
        }
        resolve({ start, end: performance.now(), status: res.statusCode ?? null, version, error: res.statusCode === 200 ? null : body });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.on('error', (e) => resolve({ start, end: performance.now(), status: null, version: null, error: e.message }));
    req.end();
  });
}

/** Requests through the edge in a loop (`concurrency` at a time, keep-alive) until stopped. */
export class LoadLoop {
  readonly samples: Sample[] = [];
  private running = true;
  private readonly loops: Promise<void>[];
  private readonly agent: Agent;

  constructor(port: number, environment: string, concurrency = 4) {
    this.agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    this.loops = Array.from({ length: concurrency }, async () => {
      while (this.running) this.samples.push(await edgeGet(port, environment, '/work', this.agent));
    });
  }

  async stop(): Promise<Sample[]> {
    this.running = false;
    await Promise.all(this.loops);
    this.agent.destroy();
    return this.samples;
  }
}

/** Whether a process is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function eventually<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
