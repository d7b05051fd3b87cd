import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { KilnNames, ProjectEvent } from '@kiln/contracts';
import { Project, ProjectCommand } from '@kiln/domain';
import { AggregateView, Aggregates, EventStore } from '@kiln/event-store';
import { AGGREGATES, LOGGER, NAMES, Readiness } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';

/** A project as git-status needs it: provider, repository, secrets (active or deleted). */
export type KnownProject = Exclude<Project, { status: 'none' }>;

/**
 * Every project, read from the projects stream and kept live (no database). A build of a
 * project created a moment ago may be seen before the project: a miss syncs first.
 */
@Injectable()
export class ProjectCatalog implements OnModuleInit, OnApplicationShutdown {
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

  /** The project, syncing with the stream once before answering null. Deleted projects are kept: their last builds still end on the commit. */
  async get(projectId: string): Promise<KnownProject | null> {
    const known = this.view.states.get(projectId);
    if (known && known.status !== 'none') return known;
    await this.view.sync(2000);
    const synced = this.view.states.get(projectId);
    return synced && synced.status !== 'none' ? synced : null;
  }
}
