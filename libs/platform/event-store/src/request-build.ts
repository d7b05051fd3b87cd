import { Attr, BuildEventData, KilnNames } from '@kiln/contracts';
import { inSpan } from '@kiln/telemetry';
import { Aggregates } from './aggregates';
import { createAggregate } from './create';
import { EventStore } from './event-store';

export type BuildRequest = Omit<BuildEventData<'BuildRequested'>, 'requestedAt'>;

export interface RequestBuildOptions {
  /** The span that starts the build's trace (every service that works on it joins it). */
  span: string;
  /** More span attributes beside the build and project ids. */
  attributes?: Record<string, string>;
  /** What caused the request (a webhook delivery, the build retried). */
  causationId?: string;
  /** Deduplicates a repeated request within JetStream's window (the subject check holds forever). */
  commandId?: string;
}

/**
 * Requests a build: appends `BuildRequested` as the first event of its subject, inside the
 * span that starts its trace. One path for every trigger (push webhook, manual, retry);
 * `created: false` when the build already existed (a redelivered webhook).
 */
export function requestBuild(store: EventStore, aggs: Aggregates, names: KilnNames, req: BuildRequest, opts: RequestBuildOptions): Promise<{ created: boolean }> {
  return inSpan(opts.span, { [Attr.buildId]: req.buildId, [Attr.projectId]: req.projectId, ...opts.attributes }, () =>
    createAggregate(
      store,
      aggs.build,
      names.subjects.build(req.buildId),
      { type: 'RequestBuild', data: { ...req, requestedAt: new Date().toISOString() } },
      { correlationId: req.buildId, causationId: opts.causationId, commandId: opts.commandId },
    ),
  );
}
