import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { KilnNames, ProjectEvent } from '@kiln/contracts';
import { Project, ProjectCommand } from '@kiln/domain';
import { AggregateView, Aggregates, EventStore } from '@kiln/event-store';
import { AGGREGATES, LOGGER, NAMES, Readiness } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';

export type ActiveProject = Extract<Project, { status: 'active' }>;
export type DeletedProject = Extract<Project, { status: 'deleted' }>;

/**
 * Every project, read from the projects stream and kept live. A webhook for a project
 * created a moment ago may arrive before its event was applied here: a miss first syncs
 * with the stream, then answers.
 */
@Injectable()
export class ProjectDirectory implements OnModuleInit, OnApplicationShutdown {
  private readonly view: AggregateView<Project, ProjectCommand, ProjectEvent>;
  private ready = false;

  constructor(
    store: EventStore,
    @Inject(AGGREGATES) aggs: Aggregates,
    @Inject(NAMES) names: KilnNames,
    @Inject(LOGGER) private readonly log: Logger,
    readiness: Readiness,
  ) {
    this.view = new AggregateView(store, aggs.project, names.subjects.allProjects, {
      onError: (e) => this.log.error('skipped malformed project event', { reason: (e as Error).message }),
    });
    readiness.register('projects', () => {
      if (!this.ready) throw new Error('projects not loaded yet');
    });
  }

  async onModuleInit(): Promise<void> {
    await this.view.start();
    this.ready = true;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.view.stop();
  }

  /** Projects whose repository matches; syncs with the stream once before answering "none". */
  async find(matches: (p: ActiveProject) => boolean): Promise<ActiveProject[]> {
    const hit = this.scan(matches);
    if (hit.length) return hit;
    await this.sync();
    return this.scan(matches);
  }

  /**
   * Applies every project event appended so far (e.g. a webhook secret rotated a moment
   * ago, before a delivery signed with the new secret arrived). Waits at most 2 s.
   */
  async sync(): Promise<void> {
    await this.view.sync(2000);
  }

  /** Deleted projects whose repository matches (to tell the sender why nothing matched). */
  deleted(matches: (p: DeletedProject) => boolean): DeletedProject[] {
    const out: DeletedProject[] = [];
    for (const p of this.view.states.values()) if (p.status === 'deleted' && matches(p)) out.push(p);
    return out;
  }

  private scan(matches: (p: ActiveProject) => boolean): ActiveProject[] {
    const out: ActiveProject[] = [];
    for (const p of this.view.states.values()) if (p.status === 'active' && matches(p)) out.push(p);
    return out;
  }
}
