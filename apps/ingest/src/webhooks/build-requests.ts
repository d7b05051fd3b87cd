import { Inject, Injectable } from '@nestjs/common';
import { Attr, buildIdForDelivery, KilnNames } from '@kiln/contracts';
import { refTriggers } from '@kiln/domain';
import { Aggregates, createAggregate, EventStore } from '@kiln/event-store';
import { AGGREGATES, LOGGER, NAMES } from '@kiln/service-kit';
import { inSpan, Logger } from '@kiln/telemetry';
import { ActiveProject } from '../projects/project-directory';
import { PushEvent } from './push-event';

export type PushOutcome =
  | { kind: 'requested'; buildId: string; projectId: string; duplicate: boolean }
  | { kind: 'ignored'; projectId: string; reason: string };

/** Turns a verified push into a `BuildRequested` event (once per delivery and project). */
@Injectable()
export class BuildRequests {
  constructor(
    private readonly store: EventStore,
    @Inject(AGGREGATES) private readonly aggs: Aggregates,
    @Inject(NAMES) private readonly names: KilnNames,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async fromPush(project: ActiveProject, push: PushEvent, deliveryId: string): Promise<PushOutcome> {
    if (push.deleted) return { kind: 'ignored', projectId: project.projectId, reason: `${push.ref} was deleted` };
    if (!refTriggers(project, push.ref)) {
      return { kind: 'ignored', projectId: project.projectId, reason: `${push.ref} does not match the project's branches` };
    }
    const buildId = buildIdForDelivery(push.provider, deliveryId, project.projectId);
    // the build's trace starts here; every service that works on it joins this trace
    const { created } = await inSpan('ingest.push', { [Attr.buildId]: buildId, [Attr.projectId]: project.projectId, 'vcs.ref.head.revision': push.sha }, () => createAggregate(
      this.store,
      this.aggs.build,
      this.names.subjects.build(buildId),
      {
        type: 'RequestBuild',
        data: {
          buildId,
          projectId: project.projectId,
          trigger: 'push',
          deliveryId,
          source: {
            repoUrl: project.repoUrl,
            ref: push.ref,
            sha: push.sha,
            branch: push.branch,
            author: push.author?.name ?? null,
            message: push.message,
          },
          requestedAt: new Date().toISOString(),
        },
      },
      { correlationId: buildId, causationId: `${push.provider}:${deliveryId}`, commandId: `delivery:${push.provider}:${deliveryId}:${project.projectId}` },
    ));
    this.log.info(created ? 'build requested' : 'duplicate delivery; no new build', { buildId, projectId: project.projectId, deliveryId, sha: push.sha });
    return { kind: 'requested', buildId, projectId: project.projectId, duplicate: !created };
  }
}
