import { Inject, Injectable } from '@nestjs/common';
import { KilnNames } from '@kiln/contracts';
import { Project } from '@kiln/domain';
import { Aggregates, EventStore } from '@kiln/event-store';
import { AGGREGATES, LiveProjects, LOGGER, NAMES, Readiness } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';

export type ActiveProject = Extract<Project, { status: 'active' }>;
export type DeletedProject = Extract<Project, { status: 'deleted' }>;

/**
 * Every project, read from the projects stream and kept live. A webhook for a project
 * created a moment ago may arrive before its event was applied here: a miss first syncs
 * with the stream, then answers.
 */
@Injectable()
export class ProjectDirectory extends LiveProjects {
  constructor(store: EventStore, @Inject(AGGREGATES) aggs: Aggregates, @Inject(NAMES) names: KilnNames, @Inject(LOGGER) log: Logger, readiness: Readiness) {
    super(store, aggs, names, log, readiness);
  }

  /** Projects whose repository matches; syncs with the stream once before answering "none". */
  async find(matches: (p: ActiveProject) => boolean): Promise<ActiveProject[]> {
    const hit = this.scan(matches);
    if (hit.length) return hit;
    await this.sync();
    return this.scan(matches);
  }

  /** Deleted projects whose repository matches (to tell the sender why nothing matched). */
  deleted(matches: (p: DeletedProject) => boolean): DeletedProject[] {
    const out: DeletedProject[] = [];
    for (const p of this.all()) if (p.status === 'deleted' && matches(p)) out.push(p);
    return out;
  }

  private scan(matches: (p: ActiveProject) => boolean): ActiveProject[] {
    const out: ActiveProject[] = [];
    for (const p of this.all()) if (p.status === 'active' && matches(p)) out.push(p);
    return out;
  }
}
