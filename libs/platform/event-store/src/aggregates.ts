import { buildCodec, BuildEvent, deployCodec, DeployEvent, KilnNames, projectCodec, ProjectEvent, workerCodec, WorkerEvent } from '@kiln/contracts';
import {
  Build,
  BuildCommand,
  buildDecider,
  Deploy,
  DeployCommand,
  deployDecider,
  Project,
  ProjectCommand,
  projectDecider,
  Worker,
  WorkerCommand,
  workerDecider,
} from '@kiln/domain';
import { Aggregate } from './event-store';

/** The aggregates of Kiln, bound to a namespace's streams. */
export function aggregates(names: KilnNames) {
  const build: Aggregate<Build, BuildCommand, BuildEvent> = { decider: buildDecider, codec: buildCodec, stream: names.streams.builds };
  const worker: Aggregate<Worker, WorkerCommand, WorkerEvent> = { decider: workerDecider, codec: workerCodec, stream: names.streams.workers };
  const project: Aggregate<Project, ProjectCommand, ProjectEvent> = { decider: projectDecider, codec: projectCodec, stream: names.streams.projects };
  const deploy: Aggregate<Deploy, DeployCommand, DeployEvent> = { decider: deployDecider, codec: deployCodec, stream: names.streams.deploys };
  return { build, worker, project, deploy };
}
export type Aggregates = ReturnType<typeof aggregates>;
