import { Controller, Get, Inject, Param } from '@nestjs/common';
import { deployIdForBuild, KilnNames, NotFoundError } from '@kiln/contracts';
import { Aggregates, EventStore } from '@kiln/event-store';
import { AGGREGATES, NAMES } from '@kiln/service-kit';
import { deployView } from './deploy-view';

const ID = /^[A-Za-z0-9_-]+$/;

/** Deploys, read from the deploys stream (always current): one deploy per build whose pipeline has a `deploy` section. */
@Controller('api')
export class DeploysController {
  constructor(
    private readonly store: EventStore,
    @Inject(AGGREGATES) private readonly aggs: Aggregates,
    @Inject(NAMES) private readonly names: KilnNames,
  ) {}

  /** The build's deploys (none, or the one its `BuildSucceeded` started), newest first. */
  @Get('builds/:id/deploys')
  async ofBuild(@Param('id') buildId: string) {
    if (!ID.test(buildId)) throw new NotFoundError(`build ${buildId} not found`);
    const build = await this.store.load(this.aggs.build, this.names.subjects.build(buildId));
    if (build.state.status === 'none') throw new NotFoundError(`build ${buildId} not found`);
    const deploy = await this.store.load(this.aggs.deploy, this.names.subjects.deploy(deployIdForBuild(buildId)));
    return { items: deploy.state.status === 'none' ? [] : [deployView(deploy.state)] };
  }

  @Get('deploys/:id')
  async get(@Param('id') id: string) {
    const loaded = await this.load(id);
    return deployView(loaded.state as never);
  }

  @Get('deploys/:id/events')
  async events(@Param('id') id: string) {
    const loaded = await this.load(id);
    return { items: loaded.events.map((e) => ({ seq: e.seq, type: e.type, version: e.version, data: e.data, meta: e.meta })) };
  }

  private async load(id: string) {
    if (!ID.test(id)) throw new NotFoundError(`deploy ${id} not found`);
    const loaded = await this.store.load(this.aggs.deploy, this.names.subjects.deploy(id));
    if (loaded.state.status === 'none') throw new NotFoundError(`deploy ${id} not found`);
    return loaded;
  }
}
