import type { BuildEventType, Provider } from '@kiln/contracts';
import type { ExistingBuild } from '@kiln/domain';
import { RepoRef, repoRefOf } from './repo-ref';

/** Name of the status on the commit (GitHub `context`, GitLab `name`). */
export const STATUS_CONTEXT = 'kiln';

/** GitHub rejects a longer `description`. */
export const MAX_DESCRIPTION = 140;

/** The build phases a commit status shows. */
export type StatusPhase = 'queued' | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

/** Each phase in each host's vocabulary (GitHub has no running or cancelled state). */
export const HOST_STATES: Record<StatusPhase, { github: 'pending' | 'success' | 'failure' | 'error'; gitlab: 'pending' | 'running' | 'success' | 'failed' | 'canceled' }> = {
  queued: { github: 'pending', gitlab: 'pending' },
  running: { github: 'pending', gitlab: 'running' },
  succeeded: { github: 'success', gitlab: 'success' },
  failed: { github: 'failure', gitlab: 'failed' },
  timed_out: { github: 'failure', gitlab: 'failed' },
  cancelled: { github: 'error', gitlab: 'canceled' },
};

/** What the commit should say about a build now. */
export interface DesiredStatus {
  phase: StatusPhase;
  /** The build is over: no later status replaces this one. */
  final: boolean;
  description: string;
}

/**
 * Build events after which a commit status may change. Steps, cache records, assignment and
 * cancel requests do not change what the commit shows, so they cost no request.
 */
export const STATUS_EVENTS: ReadonlySet<BuildEventType> = new Set<BuildEventType>([
  'BuildRequested',
  'BuildQueued',
  'BuildStarted',
  'PipelineLoaded',
  'BuildRequeued',
  'BuildSucceeded',
  'BuildFailed',
  'BuildTimedOut',
  'BuildCancelled',
]);

export function isStatusEvent(type: string): boolean {
  return STATUS_EVENTS.has(type as BuildEventType);
}

/**
 * The status a build's *current* state calls for. Statuses are derived from the folded
 * state, never from the event at hand: a message redelivered late (after a host outage)
 * then re-sends the current state, so a late "pending" can never replace a final one.
 */
export function desiredStatus(b: ExistingBuild): DesiredStatus {
  switch (b.status) {
    case 'requested':
    case 'queued':
    case 'assigned':
      return { phase: 'queued', final: false, description: b.attempt > 1 ? `Queued (attempt ${b.attempt})` : 'Queued' };
    case 'running':
      return { phase: 'running', final: false, description: b.attempt > 1 ? `Running (attempt ${b.attempt})` : 'Running' };
    case 'succeeded':
      return { phase: 'succeeded', final: true, description: withDuration('Succeeded', b) };
    case 'failed':
      return { phase: 'failed', final: true, description: clip(b.reason ? `Failed: ${b.reason}` : 'Failed') };
    case 'timed_out':
      return { phase: 'timed_out', final: true, description: clip(b.reason ? `Timed out: ${b.reason}` : 'Timed out') };
    case 'cancelled':
      return { phase: 'cancelled', final: true, description: clip(b.reason ? `Cancelled: ${b.reason}` : 'Cancelled') };
  }
}

/** The link on the status: the build's page in the dashboard. */
export function buildPageUrl(publicUrl: string, buildId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/#/builds/${encodeURIComponent(buildId)}`;
}

/** One request to a git host's API. `headers` carry the token: never log them. */
export interface HostRequest {
  method: 'POST';
  url: string;
  headers: Record<string, string>;
  body: Record<string, string>;
}

/** Name of the project secret holding a token for that project's commit statuses (overrides KILN_GITHUB_TOKEN / KILN_GITLAB_TOKEN). */
export const GIT_STATUS_TOKEN_SECRET = 'GIT_STATUS_TOKEN';

/** Where a project's commit statuses go (its repository, with a token), or why nowhere. */
export type Reach = { repo: RepoRef; token: string } | { nowhere: string; level: 'debug' | 'info' };

/**
 * Whether a project's builds can have commit statuses at all, from the project (null: not
 * known) and the token it would use (null: none set). Needs no build: decided before one is read.
 */
export function reachOf(project: { provider: Provider; repoUrl: string } | null, token: string | null): Reach {
  if (!project) return { nowhere: 'no commit statuses: unknown project', level: 'debug' };
  const repo = repoRefOf(project.provider, project.repoUrl);
  if (!repo) return { nowhere: `no commit statuses: ${project.repoUrl} names no ${project.provider} repository`, level: 'debug' };
  if (!token) {
    const key = project.provider === 'github' ? 'KILN_GITHUB_TOKEN' : 'KILN_GITLAB_TOKEN';
    return { nowhere: `no commit statuses: set ${key} or the project secret ${GIT_STATUS_TOKEN_SECRET}`, level: 'info' };
  }
  return { repo, token };
}

export interface StatusTarget {
  repo: RepoRef;
  sha: string;
  /** The branch (GitLab attaches the status to its pipeline for that ref); null for a tag or unknown. */
  branch: string | null;
  token: string;
  targetUrl: string;
  /** API base URLs without a trailing slash. */
  githubApiUrl: string;
  gitlabApiUrl: string;
}

/**
 * The commit-status request for a host:
 * GitHub `POST /repos/:owner/:repo/statuses/:sha` `{ state, context, description, target_url }`
 * with `Authorization: Bearer`; GitLab `POST /projects/:id/statuses/:sha` (`:id` the
 * URL-encoded project path) `{ state, name, description, target_url, ref? }` with `PRIVATE-TOKEN`.
 */
export function statusRequest(t: StatusTarget, status: DesiredStatus): HostRequest {
  if (t.repo.provider === 'github') {
    return {
      method: 'POST',
      url: `${t.githubApiUrl}/repos/${encodeURIComponent(t.repo.owner)}/${encodeURIComponent(t.repo.repo)}/statuses/${t.sha}`,
      headers: {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${t.token}`,
        'content-type': 'application/json',
        'user-agent': 'kiln-git-status',
        'x-github-api-version': '2022-11-28',
      },
      body: { state: HOST_STATES[status.phase].github, context: STATUS_CONTEXT, description: status.description, target_url: t.targetUrl },
    };
  }
  return {
    method: 'POST',
    url: `${t.gitlabApiUrl}/projects/${encodeURIComponent(t.repo.path)}/statuses/${t.sha}`,
    headers: { 'content-type': 'application/json', 'private-token': t.token, 'user-agent': 'kiln-git-status' },
    body: {
      state: HOST_STATES[status.phase].gitlab,
      name: STATUS_CONTEXT,
      description: status.description,
      target_url: t.targetUrl,
      ...(t.branch ? { ref: t.branch } : {}),
    },
  };
}

function withDuration(text: string, b: ExistingBuild): string {
  const from = Date.parse(b.startedAt ?? b.requestedAt);
  const to = Date.parse(b.finishedAt ?? '');
  if (!Number.isFinite(from) || !Number.isFinite(to) || to < from) return text;
  return `${text} in ${formatDuration(to - from)}`;
}

/** `850ms` → `0s`, `65000` → `1m 5s`, `3725000` → `1h 2m`. */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

function clip(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= MAX_DESCRIPTION ? oneLine : `${oneLine.slice(0, MAX_DESCRIPTION - 1)}…`;
}
