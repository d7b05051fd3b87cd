import { IllegalStateError, ProjectEvent } from '@kiln/contracts';
import { Decider, assertNever } from '../decider';

export type Project =
  | { status: 'none' }
  | {
      status: 'active';
      projectId: string;
      name: string;
      repoUrl: string;
      provider: 'github' | 'gitlab';
      webhookSecret: string;
      branches: string[] | null;
      concurrency: number;
      createdAt: string;
    };

export type ProjectCommand = {
  type: 'CreateProject';
  data: Extract<ProjectEvent, { type: 'ProjectCreated' }>['data'];
};

function decide(command: ProjectCommand, state: Project): ProjectEvent[] {
  switch (command.type) {
    case 'CreateProject':
      if (state.status !== 'none') throw new IllegalStateError(`project ${command.data.projectId} already exists`);
      return [{ type: 'ProjectCreated', data: command.data }];
    default:
      return assertNever(command.type);
  }
}

function evolve(state: Project, event: ProjectEvent): Project {
  switch (event.type) {
    case 'ProjectCreated':
      return { status: 'active', ...event.data };
    default:
      return assertNever(event.type);
  }
}

export const projectDecider: Decider<Project, ProjectCommand, ProjectEvent> = {
  initialState: () => ({ status: 'none' }),
  decide,
  evolve,
};

/** Does a push to `ref` trigger a build of this project? */
export function refTriggers(project: { branches: string[] | null }, ref: string): boolean {
  if (!project.branches || project.branches.length === 0) return true;
  const branch = ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null;
  if (branch === null) return false;
  return project.branches.some((pattern) => globMatch(pattern, branch));
}

function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return re.test(text);
}
