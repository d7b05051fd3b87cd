import { IllegalStateError, InvalidError, NotFoundError, ProjectEvent } from '@kiln/contracts';
import { Decider, assertNever } from '../decider';

/** A project secret as the aggregate keeps it: the encrypted value and when it was set. */
export interface ProjectSecret {
  /** `enc:v1:...`; only agents decrypt it. */
  value: string;
  setAt: string;
}

/** The secret a rotation replaced, accepted until `validUntil` (ISO). */
export interface PreviousWebhookSecret {
  /** `enc:v1:...` */
  secret: string;
  validUntil: string;
}

/** What a project is, while active and (kept for history) once deleted. */
export interface ProjectFields {
  projectId: string;
  name: string;
  repoUrl: string;
  provider: 'github' | 'gitlab';
  webhookSecret: string;
  branches: string[] | null;
  concurrency: number;
  createdAt: string;
  /** Cancel older unfinished builds of a branch when a newer push to it arrives. */
  autoCancel?: boolean;
  /** Secrets by name; absent until the first one is set. */
  secrets?: Readonly<Record<string, ProjectSecret>>;
  /** The webhook secret the last rotation replaced, while it is still accepted. */
  previousWebhookSecret?: PreviousWebhookSecret | null;
}

/** `deleted` is final: every command is refused; the fields stay for history. */
export type Project = { status: 'none' } | ({ status: 'active' } & ProjectFields) | ({ status: 'deleted'; deletedAt: string } & ProjectFields);

export type ActiveProject = Extract<Project, { status: 'active' }>;

export type ProjectCommand =
  | {
      type: 'CreateProject';
      data: Extract<ProjectEvent, { type: 'ProjectCreated' }>['data'];
    }
  | {
      type: 'SetProjectSecret';
      projectId: string;
      name: string;
      /** Already encrypted (`enc:v1:`); plaintext never reaches an event. */
      value: string;
      now: string;
    }
  | { type: 'RemoveProjectSecret'; projectId: string; name: string; now: string }
  | {
      type: 'ChangeProjectSettings';
      projectId: string;
      settings: { concurrency?: number; branches?: string[] | null; autoCancel?: boolean };
      now: string;
    }
  | {
      type: 'RotateWebhookSecret';
      projectId: string;
      /** Already encrypted (`enc:v1:`). */
      webhookSecret: string;
      /** How long the replaced secret stays valid (ms); 0: rejected at once. */
      graceMs: number;
      now: string;
    }
  | { type: 'DeleteProject'; projectId: string; now: string };

/** Environment names the runner sets itself: a secret may not shadow them. */
export function isReservedSecretName(name: string): boolean {
  return name === 'CI' || name === 'KILN' || name.startsWith('KILN_');
}

function decide(command: ProjectCommand, state: Project): ProjectEvent[] {
  switch (command.type) {
    case 'CreateProject':
      if (state.status !== 'none') throw new IllegalStateError(`project ${command.data.projectId} already exists`);
      return [{ type: 'ProjectCreated', data: command.data }];
    case 'SetProjectSecret': {
      const project = active(state, command.projectId);
      if (isReservedSecretName(command.name)) throw new InvalidError(`secret name ${command.name} is reserved (CI, KILN and KILN_* are set by the runner)`);
      return [{ type: 'ProjectSecretSet', data: { projectId: project.projectId, name: command.name, value: command.value, setAt: command.now } }];
    }
    case 'RemoveProjectSecret': {
      const project = active(state, command.projectId);
      if (!project.secrets?.[command.name]) throw new NotFoundError(`project ${project.projectId} has no secret ${command.name}`);
      return [{ type: 'ProjectSecretRemoved', data: { projectId: project.projectId, name: command.name, removedAt: command.now } }];
    }
    case 'ChangeProjectSettings': {
      const project = active(state, command.projectId);
      const changed = Object.entries(command.settings).filter(([k, v]) => v !== undefined && JSON.stringify((project as unknown as Record<string, unknown>)[k] ?? null) !== JSON.stringify(v));
      if (!changed.length) return [];
      return [{ type: 'ProjectSettingsChanged', data: { projectId: project.projectId, ...Object.fromEntries(changed), changedAt: command.now } }];
    }
    case 'RotateWebhookSecret': {
      const project = active(state, command.projectId);
      if (!Number.isFinite(command.graceMs) || command.graceMs < 0) throw new InvalidError(`grace period ${command.graceMs} ms must be 0 or more`);
      const previousValidUntil = command.graceMs > 0 ? new Date(Date.parse(command.now) + command.graceMs).toISOString() : null;
      return [{ type: 'ProjectWebhookSecretRotated', data: { projectId: project.projectId, webhookSecret: command.webhookSecret, previousValidUntil, rotatedAt: command.now } }];
    }
    case 'DeleteProject': {
      const project = active(state, command.projectId);
      return [{ type: 'ProjectDeleted', data: { projectId: project.projectId, deletedAt: command.now } }];
    }
    default:
      return assertNever(command);
  }
}

function active(state: Project, projectId: string): ActiveProject {
  if (state.status === 'deleted') throw new NotFoundError(`project ${projectId} was deleted at ${state.deletedAt}`);
  if (state.status !== 'active') throw new NotFoundError(`project ${projectId} not found`);
  return state;
}

function evolve(state: Project, event: ProjectEvent): Project {
  switch (event.type) {
    case 'ProjectCreated':
      return { status: 'active', ...event.data };
    case 'ProjectSecretSet': {
      if (state.status !== 'active') return state;
      return { ...state, secrets: { ...state.secrets, [event.data.name]: { value: event.data.value, setAt: event.data.setAt } } };
    }
    case 'ProjectSecretRemoved': {
      if (state.status !== 'active') return state;
      const { [event.data.name]: _removed, ...rest } = state.secrets ?? {};
      return { ...state, secrets: rest };
    }
    case 'ProjectSettingsChanged': {
      if (state.status !== 'active') return state;
      const { projectId: _p, changedAt: _c, ...settings } = event.data;
      return { ...state, ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) };
    }
    case 'ProjectWebhookSecretRotated': {
      if (state.status !== 'active') return state;
      const { webhookSecret, previousValidUntil } = event.data;
      return { ...state, webhookSecret, previousWebhookSecret: previousValidUntil ? { secret: state.webhookSecret, validUntil: previousValidUntil } : null };
    }
    case 'ProjectDeleted': {
      if (state.status !== 'active') return state;
      return { ...state, status: 'deleted', deletedAt: event.data.deletedAt };
    }
    default:
      return assertNever(event);
  }
}

export const projectDecider: Decider<Project, ProjectCommand, ProjectEvent> = {
  initialState: () => ({ status: 'none' }),
  decide,
  evolve,
};

/**
 * The webhook secrets (encrypted) a delivery may be signed with at `now` (ISO): the current
 * one, and the one the last rotation replaced while its grace period lasts.
 */
export function acceptedWebhookSecrets(project: Pick<ActiveProject, 'webhookSecret' | 'previousWebhookSecret'>, now: string): string[] {
  const prev = project.previousWebhookSecret;
  return prev && prev.validUntil > now ? [project.webhookSecret, prev.secret] : [project.webhookSecret];
}

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
