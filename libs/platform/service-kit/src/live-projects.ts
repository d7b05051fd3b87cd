import { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { KilnNames, ProjectEvent } from '@kiln/contracts';
import { Project, ProjectCommand } from '@kiln/domain';
import { AggregateView, Aggregates, EventStore } from '@kiln/event-store';
import { Logger } from '@kiln/telemetry';
import { Readiness } from './readiness';

export type KnownProject = Exclude<Project, { status: 'none' }>;

/**
 * Every project, read from the projects stream and kept live in memory (no database);
 * the service is ready once the stream was replayed. Services extend it with their own
 * questions (ingest: which project a webhook is for; git-status: a build's project).
 */
export abstract class LiveProjects implements OnModuleInit, OnApplicationShutdown {
  private readonly view: AggregateView<Project, ProjectCommand, ProjectEvent>;
  private ready = false;

  protected constructor(store: EventStore, aggs: Aggregates, names: KilnNames, log: Logger, readiness: Readiness) {
    this.view = new AggregateView(store, aggs.project, names.subjects.allProjects, {
      onError: (e) => log.error('skipped malformed project event', { reason: (e as Error).message }),
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

  /**
   * Applies every project event appended so far (a project created, or its webhook secret
   * rotated, a moment before a request about it arrived). Waits at most 2 s.
   */
  async sync(): Promise<void> {
    await this.view.sync(2000);
  }

  /** The project by id, as far as this view has read. */
  protected known(projectId: string): KnownProject | null {
    const p = this.view.states.get(projectId);
    return p && p.status !== 'none' ? p : null;
  }

  /** Every project this view has read (active and deleted). */
  protected *all(): Iterable<KnownProject> {
    for (const p of this.view.states.values()) if (p.status !== 'none') yield p;
  }
}
