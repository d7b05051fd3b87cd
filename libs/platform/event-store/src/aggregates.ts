import { buildCodec, BuildEvent, KilnNames, projectCodec, ProjectEvent, workerCodec, WorkerEvent } from '@kiln/contracts';
import {
  Build,
  BuildCommand,
  buildDecider,
  Project,
  ProjectCommand,
  projectDecider,
  Worker,
  WorkerCommand,
  workerDecider,
} from '@kiln/domain';
import { Aggregate } from './event-store';

/** The three aggregates of Kiln, bound to a namespace's streams. */
export function aggregates(names: KilnNames) {
  const build: Aggregate<Build, BuildCommand, BuildEvent> = { decider: buildDecider, codec: buildCodec, stream: names.streams.builds };
  const worker: Aggregate<Worker, WorkerCommand, WorkerEvent> = { decider: workerDecider, codec: workerCodec, stream: names.streams.workers };
  const project: Aggregate<Project, ProjectCommand, ProjectEvent> = { decider: projectDecider, codec: projectCodec, stream: names.streams.projects };
  return { build, worker, project };
}
export type Aggregates = ReturnType<typeof aggregates>;
