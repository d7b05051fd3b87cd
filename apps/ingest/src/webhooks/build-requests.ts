import { Inject, Injectable } from '@nestjs/common';
import { Attr, buildIdForDelivery, KilnNames } from '@kiln/contracts';
import { refTriggers } from '@kiln/domain';
import { Aggregates, EventStore, requestBuild } from '@kiln/event-store';
import { AGGREGATES, LOGGER, NAMES } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
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
    const { created } = await requestBuild(
      this.store,
      this.aggs,
      this.names,
      {
        buildId,
        projectId: project.projectId,
        trigger: 'push',
        deliveryId,
        source: { repoUrl: project.repoUrl, ref: push.ref, sha: push.sha, branch: push.branch, author: push.author?.name ?? null, message: push.message },
      },
      {
        span: 'ingest.push',
        attributes: { [Attr.commitSha]: push.sha },
        causationId: `${push.provider}:${deliveryId}`,
        commandId: `delivery:${push.provider}:${deliveryId}:${project.projectId}`,
      },
    );
    this.log.info(created ? 'build requested' : 'duplicate delivery; no new build', { buildId, projectId: project.projectId, deliveryId, sha: push.sha });
    return { kind: 'requested', buildId, projectId: project.projectId, duplicate: !created };
  }
}
