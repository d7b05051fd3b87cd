import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { DeployEvent, KilnNames } from '@kiln/contracts';
import { KilnConfig } from '@kiln/config';
import { DockerApi } from '@kiln/docker';
import { Deploy, DeployCommand, ExistingDeploy } from '@kiln/domain';
import { AggregateView, Aggregates, EventStore } from '@kiln/event-store';
import { AGGREGATES, CONFIG, LOGGER, NAMES, Readiness } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { EdgeRouter } from '../edge/edge-router';
import { EdgeServer } from '../edge/edge-server';
import { DockerRuntime } from '../runtime/docker-runtime';
import { ProcessRuntime } from '../runtime/instance-process';
import { DeployRunner } from './deploy-runner';
import { DeployTrigger, TriggerResult } from './deploy-trigger';

/**
 * The deployer: the edge router on `KILN_EDGE_PORT`, the deploy runner, and the trigger that
 * turns succeeded builds into deploys. At start it replays the deploys stream and the edge
 * re-learns each environment's live release: its instances still running are adopted, the gone
 * ones started again behind the warm-up gate; deploys interrupted mid-way are failed and their
 * instances stopped (or run, when they had not started one). See {@link DeployRunner.recover}.
 * One deployer per machine runs the instances.
 */
@Injectable()
export class DeployerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly router = new EdgeRouter();
  private readonly edge: EdgeServer;
  private readonly runner: DeployRunner;
  private readonly trigger: DeployTrigger;
  private resolveReady!: () => void;
  /** Resolves once recovery is done: the build consumer waits for it. */
  readonly ready = new Promise<void>((r) => (this.resolveReady = r));
  private recovered = false;
  private shuttingDown = false;

  constructor(
    private readonly store: EventStore,
    @Inject(AGGREGATES) private readonly aggs: Aggregates,
    @Inject(NAMES) private readonly names: KilnNames,
    @Inject(CONFIG) private readonly cfg: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    readiness: Readiness,
  ) {
    const releasesDir = join(cfg.workRoot, 'releases');
    mkdirSync(releasesDir, { recursive: true });
    this.edge = new EdgeServer(this.router, log);
    // deploy.start runs as processes here; deploy.image as containers of the Docker engine at DOCKER_HOST
    const docker = new DockerRuntime(new DockerApi(cfg.dockerHost ?? cfg.dockerSocket), { log });
    this.runner = new DeployRunner(store, aggs.deploy, names, this.router, log, { releasesDir, runtimes: { process: new ProcessRuntime(), docker } });
    this.trigger = new DeployTrigger(store, aggs, names, this.runner, releasesDir, log);
    readiness.register('edge', () => {
      if (!this.edge.listening) throw new Error('edge router not listening');
    });
    readiness.register('deploys', () => {
      if (!this.recovered) throw new Error('replaying deploys');
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    const port = await this.edge.start(this.cfg.edgePort);
    this.log.info(`edge router on port ${port}: Host <environment>.localhost`, { port });
    await this.recover();
    this.recovered = true;
    this.resolveReady();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    await this.edge.stop();
    await this.runner.shutdown();
  }

  async onBuildSucceeded(buildId: string): Promise<TriggerResult> {
    await this.ready;
    // not acked: redelivered to the next deployer
    if (this.shuttingDown) throw new Error('the deployer is stopping');
    return this.trigger.onBuildSucceeded(buildId);
  }

  private async recover(): Promise<void> {
    const liveSeq = new Map<string, { deployId: string; seq: number }>();
    const view = new AggregateView<Deploy, DeployCommand, DeployEvent>(this.store, this.aggs.deploy, this.names.subjects.allDeploys, {
      onEvent: (id, _s, e) => {
        if (e.type === 'TrafficSwitched') liveSeq.set(e.data.environment, { deployId: id, seq: e.seq });
      },
      onError: (e) => this.log.error('skipped malformed deploy event', { reason: (e as Error).message }),
    });
    await view.start();
    await view.stop();
    const current = new Map([...liveSeq.entries()].map(([environment, l]) => [environment, l.deployId]));
    const all = [...view.states.values()].filter((d): d is ExistingDeploy => d.status !== 'none');
    const resume = await this.runner.recover(all, current);
    for (const d of resume) void this.runner.run(d);
  }
}
