import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { BuildEvent, BuildEventType, KilnNames, Recorded } from '@kiln/contracts';
import { JetStreamContext, JetStreamRoute, newBuildEventsRoute, PassThroughRpcErrors } from '@kiln/transport';
import { DeployerService } from './deployer.service';

/** Route key of the deployer's durable consumer on the builds stream. */
export const BUILDS_ROUTE = 'deployer.builds';

/** The only build event the deployer acts on; the others are acked unread. */
const DEPLOY_TRIGGERS: ReadonlySet<BuildEventType> = new Set<BuildEventType>(['BuildSucceeded']);

/**
 * The deployer's consumer of build events. A new consumer starts after the stream's current
 * end (builds that succeeded before the deployer was first installed are not deployed).
 */
export function buildRoutes(names: KilnNames, streamLastSeq: () => Promise<number>): Record<string, JetStreamRoute> {
  return {
    [BUILDS_ROUTE]: newBuildEventsRoute(names, names.durables.deployerBuilds, DEPLOY_TRIGGERS, streamLastSeq),
  };
}

/** Acked once the deploy's first event is durable (the deploy itself goes on in the background). */
@Controller()
@UseFilters(new PassThroughRpcErrors())
export class BuildEventsController {
  constructor(private readonly deployer: DeployerService) {}

  @EventPattern(BUILDS_ROUTE)
  async onBuild(@Payload() e: Recorded<BuildEvent>, @Ctx() ctx: JetStreamContext): Promise<void> {
    if (e.type !== 'BuildSucceeded') return;
    const keepAlive = setInterval(() => ctx.msg.working(), 10_000);
    try {
      await this.deployer.onBuildSucceeded(e.data.buildId);
    } finally {
      clearInterval(keepAlive);
    }
  }
}

