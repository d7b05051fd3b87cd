import { Inject, Injectable } from '@nestjs/common';
import { KilnNames } from '@kiln/contracts';
import { Aggregates, EventStore } from '@kiln/event-store';
import { AGGREGATES, KnownProject, LiveProjects, LOGGER, NAMES, Readiness } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';

export type { KnownProject };

/**
 * Every project, read from the projects stream and kept live (no database). A build of a
 * project created a moment ago may be seen before the project: a miss syncs first.
 */
@Injectable()
export class ProjectCatalog extends LiveProjects {
  constructor(store: EventStore, @Inject(AGGREGATES) aggs: Aggregates, @Inject(NAMES) names: KilnNames, @Inject(LOGGER) log: Logger, readiness: Readiness) {
    super(store, aggs, names, log, readiness);
  }

  /** The project, syncing with the stream once before answering null. Deleted projects are kept: their last builds still end on the commit. */
  async get(projectId: string): Promise<KnownProject | null> {
    const known = this.known(projectId);
    if (known) return known;
    await this.sync();
    return this.known(projectId);
  }
}
