import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { BuildEvent, ProjectEvent, Recorded, WorkerEvent } from '@kiln/contracts';
import { JetStreamContext, PassThroughRpcErrors } from '@kiln/transport';
import { Projections, ReadModelProjections } from './projections';

/** Durable consumers feeding the read model; acked after the row and checkpoint committed. */
@Controller()
@UseFilters(new PassThroughRpcErrors())
export class ProjectionsController {
  constructor(private readonly projections: ReadModelProjections) {}

  @EventPattern(Projections.builds)
  onBuild(@Payload() e: Recorded<BuildEvent>, @Ctx() _ctx: JetStreamContext) {
    return this.projections.build(e);
  }

  @EventPattern(Projections.projects)
  onProject(@Payload() e: Recorded<ProjectEvent>) {
    return this.projections.project(e);
  }

  @EventPattern(Projections.workers)
  onWorker(@Payload() e: Recorded<WorkerEvent>) {
    return this.projections.worker(e);
  }
}
