import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { BuildEvent, KilnNames, Recorded } from '@kiln/contracts';
import { JetStreamContext, JetStreamRoute, newBuildEventsRoute, PassThroughRpcErrors } from '@kiln/transport';
import { HostUnavailableError, retryDelay, RetryPolicy } from './host-response';
import { StatusReporter } from './status-reporter';
import { STATUS_EVENTS } from './commit-status';

/** Route key of git-status's durable consumer on the builds stream. */
export const BUILDS_ROUTE = 'git-status.builds';

/**
 * git-status's consumer of build events, an integration like any other (see the event
 * catalog). A new consumer starts after the stream's current end: installing git-status
 * does not post statuses for every build in history. A retryable failure is redelivered
 * after an exponential backoff (or the host's Retry-After), without holding up other builds.
 */
export function gitStatusRoutes(names: KilnNames, streamLastSeq: () => Promise<number>, policy: RetryPolicy): Record<string, JetStreamRoute> {
  return {
    [BUILDS_ROUTE]: newBuildEventsRoute(names, names.durables.gitStatusBuilds, STATUS_EVENTS, streamLastSeq, {
      retryDelayMs: (deliveries, e) => retryDelay(deliveries, e instanceof HostUnavailableError ? e.retryAfterMs : null, policy),
    }),
  };
}

@Controller()
@UseFilters(new PassThroughRpcErrors())
export class BuildEventsController {
  constructor(private readonly reporter: StatusReporter) {}

  @EventPattern(BUILDS_ROUTE)
  onBuild(@Payload() e: Recorded<BuildEvent>, @Ctx() ctx: JetStreamContext): Promise<void> {
    return this.reporter.onBuildEvent(e, ctx.msg.info.deliveryCount);
  }
}
