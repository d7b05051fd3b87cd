import { Controller, Get, Inject, Param } from '@nestjs/common';
import { deployIdForBuild, KilnNames } from '@kiln/contracts';
import { Aggregates, EventStore } from '@kiln/event-store';
import { AGGREGATES, NAMES } from '@kiln/service-kit';
import { loadOr404 } from '../aggregates/load-or-404';
import { deployView } from './deploy-view';

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
    await loadOr404(this.store, this.aggs.build, this.names.subjects.build, 'build', buildId);
    const deploy = await this.store.load(this.aggs.deploy, this.names.subjects.deploy(deployIdForBuild(buildId)));
    return { items: deploy.state.status === 'none' ? [] : [deployView(deploy.state)] };
  }

  @Get('deploys/:id')
  async get(@Param('id') id: string) {
    const loaded = await this.load(id);
    return deployView(loaded.state);
  }

  @Get('deploys/:id/events')
  async events(@Param('id') id: string) {
    const loaded = await this.load(id);
    return { items: loaded.events.map((e) => ({ seq: e.seq, type: e.type, version: e.version, data: e.data, meta: e.meta })) };
  }

  private load(id: string) {
    return loadOr404(this.store, this.aggs.deploy, this.names.subjects.deploy, 'deploy', id);
  }
}
