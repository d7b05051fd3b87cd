import { z } from 'zod';

/**
 * A push to a repository, normalized across providers. This is what the ingest service turns into
 * a `BuildRequested` event once it has matched the push to a project.
 */
export interface PushEvent {
  /** Which forge sent the webhook. */
  provider: 'github' | 'gitlab';
  repo: {
    /** `owner/name` on GitHub, `group/subgroup/name` (`path_with_namespace`) on GitLab. */
    fullName: string;
    /**
     * Every URL the payload gives for the repository, deduplicated, in this order: https clone URL,
     * ssh URL, web (html) URL, `git://` URL. Compare them with {@link normalizeRepoUrl}.
     */
    cloneUrls: string[];
  };
  /** The full ref that was pushed, e.g. `refs/heads/main` or `refs/tags/v1.2.0`. */
  ref: string;
  /** Branch name when `ref` is `refs/heads/<branch>`, else `null`. */
  branch: string | null;
  /** Tag name when `ref` is `refs/tags/<tag>`, else `null`. */
  tag: string | null;
  /** Lower-case commit id the ref now points at; all zeros when the ref was deleted. */
  sha: string;
  /** `true` when the push deleted the ref (nothing to build). */
  deleted: boolean;
  /** Author of the head commit, or the pusher when the payload has no head commit. */
  author: { name: string; email?: string; username?: string } | null;
  /** Message of the head commit (or of an annotated tag on GitLab), if known. */
  message: string | null;
}

/** What a webhook delivery turned out to be. */
export type WebhookParseResult =
  | { kind: 'push'; push: PushEvent }
  | { kind: 'ping'; zen?: string; hookId?: number }
  | { kind: 'ignored'; reason: string };

/**
 * Thrown when a webhook delivery cannot be understood: a missing event header, or a body that does
 * not have the fields Kiln needs. The message names the offending field(s), e.g.
 * `invalid GitHub push payload: repository.clone_url: expected string`. Maps to HTTP 400.
 */
export class WebhookPayloadError extends Error {
  /** Stable machine-readable code. */
  readonly code = 'INVALID';
  override readonly name = 'WebhookPayloadError';
  /** One entry per failing field (`path: problem`); empty when the problem is not a field. */
  readonly issues: readonly string[];

  /**
   * @param message - Human-readable description; should name the failing field(s).
   * @param issues - The individual field problems, if any.
   */
  constructor(message: string, issues: readonly string[] = []) {
    super(message);
    this.issues = issues;
  }
}

// ---------------------------------------------------------------------------------------------
// Shared schema pieces
// ---------------------------------------------------------------------------------------------

/** A full git ref. Rejecting anything else also keeps option-like values (`-…`) away from git. */
const refSchema = z.string().regex(/^refs\/\S+$/, 'expected a full ref such as "refs/heads/main"');

/** A SHA-1 (40) or SHA-256 (64) object id. */
const objectIdSchema = z
  .string()
  .regex(/^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/, 'expected a 40- or 64-character hex commit id');

const optionalString = z.string().nullish();

const ZERO_SHA = /^0+$/;

// ---------------------------------------------------------------------------------------------
// GitHub
// ---------------------------------------------------------------------------------------------

const githubPersonSchema = z.object({
  name: z.string(),
  email: optionalString,
  username: optionalString,
});

/** The parts of GitHub's `push` payload Kiln reads. Unknown keys are ignored. */
const githubPushSchema = z.object({
  ref: refSchema,
  after: objectIdSchema,
  deleted: z.boolean().optional(),
  repository: z.object({
    full_name: z.string().min(1),
    clone_url: z.string().min(1),
    ssh_url: optionalString,
    html_url: optionalString,
    git_url: optionalString,
  }),
  head_commit: z
    .object({
      id: z.string(),
      message: z.string(),
      author: githubPersonSchema.nullish(),
    })
    .nullish(),
  pusher: githubPersonSchema.nullish(),
});

/** The parts of GitHub's `ping` payload Kiln reads. */
const githubPingSchema = z.object({
  zen: optionalString,
  hook_id: z.number().int().nullish(),
});

/**
 * Interprets a GitHub webhook delivery.
 *
 * - `push` → `{ kind: 'push' }` with a normalized {@link PushEvent} (branch and tag pushes,
 *   including deletions, where `head_commit` is `null` and `after` is all zeros).
 * - `ping` (sent when a hook is created) → `{ kind: 'ping' }`.
 * - any other event → `{ kind: 'ignored', reason: 'event "<name>" is not handled' }`.
 *
 * @param eventName - The `X-GitHub-Event` header.
 * @param body - The parsed JSON body.
 * @returns What the delivery is.
 * @throws {@link WebhookPayloadError} when the event header is missing or the body of a handled
 *   event lacks required fields (the message names them).
 */
export function parseGithubEvent(eventName: string | undefined, body: unknown): WebhookParseResult {
  const event = requireHeader(eventName, 'X-GitHub-Event').toLowerCase();

  if (event === 'ping') {
    const ping = validate(githubPingSchema, body, 'GitHub ping payload');
    const result: WebhookParseResult = { kind: 'ping' };
    if (typeof ping.zen === 'string') result.zen = ping.zen;
    if (typeof ping.hook_id === 'number') result.hookId = ping.hook_id;
    return result;
  }
  if (event !== 'push') return ignored(eventName);

  const payload = validate(githubPushSchema, body, 'GitHub push payload');
  const sha = payload.after.toLowerCase();
  const head = payload.head_commit ?? null;
  const authorSource = head?.author ?? payload.pusher ?? null;

  return {
    kind: 'push',
    push: {
      provider: 'github',
      repo: {
        fullName: payload.repository.full_name,
        cloneUrls: uniqueUrls([
          payload.repository.clone_url,
          payload.repository.ssh_url,
          payload.repository.html_url,
          payload.repository.git_url,
        ]),
      },
      ref: payload.ref,
      ...refParts(payload.ref),
      sha,
      deleted: payload.deleted === true || ZERO_SHA.test(sha),
      author: authorSource ? makeAuthor(authorSource.name, authorSource.email, authorSource.username) : null,
      message: head ? head.message : null,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// GitLab
// ---------------------------------------------------------------------------------------------

/** The parts of GitLab's `Push Hook` / `Tag Push Hook` payload Kiln reads. */
const gitlabPushSchema = z.object({
  ref: refSchema,
  after: objectIdSchema,
  checkout_sha: objectIdSchema.nullish(),
  message: optionalString,
  user_name: optionalString,
  user_username: optionalString,
  user_email: optionalString,
  project: z.object({
    path_with_namespace: z.string().min(1),
    git_http_url: z.string().min(1),
    git_ssh_url: optionalString,
    web_url: optionalString,
  }),
  commits: z
    .array(
      z.object({
        id: z.string(),
        message: optionalString,
        author: z.object({ name: z.string(), email: optionalString }).nullish(),
      }),
    )
    .nullish(),
});

const GITLAB_PUSH_EVENTS = new Set(['push hook', 'tag push hook']);

/**
 * Interprets a GitLab webhook delivery.
 *
 * - `Push Hook` and `Tag Push Hook` → `{ kind: 'push' }`. `sha` is `checkout_sha` (the commit a
 *   tag points at), else `after`; the message/author come from the commit whose id is that sha,
 *   else the last listed commit, else the pusher (`user_name`, `user_email`, `user_username`).
 *   A branch deletion (`after` all zeros, `checkout_sha` null) gives `deleted: true`.
 * - `System Hook` and every other event → `{ kind: 'ignored' }`.
 *
 * @param eventHeader - The `X-Gitlab-Event` header.
 * @param body - The parsed JSON body.
 * @returns What the delivery is.
 * @throws {@link WebhookPayloadError} when the event header is missing or a push body lacks
 *   required fields (the message names them).
 */
export function parseGitlabEvent(eventHeader: string | undefined, body: unknown): WebhookParseResult {
  const event = requireHeader(eventHeader, 'X-Gitlab-Event');
  if (!GITLAB_PUSH_EVENTS.has(event.toLowerCase())) return ignored(eventHeader);

  const payload = validate(gitlabPushSchema, body, 'GitLab push payload');
  const after = payload.after.toLowerCase();
  const sha = (payload.checkout_sha ?? after).toLowerCase();
  const deleted = ZERO_SHA.test(after);

  const commits = payload.commits ?? [];
  const commit = deleted
    ? undefined
    : (commits.find((c) => c.id.toLowerCase() === sha) ?? commits[commits.length - 1]);

  const author = commit?.author
    ? makeAuthor(commit.author.name, commit.author.email, undefined)
    : makeAuthor(payload.user_name, payload.user_email, payload.user_username);

  const message = nonEmpty(commit?.message) ?? nonEmpty(payload.message) ?? null;

  return {
    kind: 'push',
    push: {
      provider: 'gitlab',
      repo: {
        fullName: payload.project.path_with_namespace,
        cloneUrls: uniqueUrls([payload.project.git_http_url, payload.project.git_ssh_url, payload.project.web_url]),
      },
      ref: payload.ref,
      ...refParts(payload.ref),
      sha,
      deleted,
      author,
      message,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Repository URL matching
// ---------------------------------------------------------------------------------------------

/**
 * Reduces a repository URL to a comparable key: `host/path` for remote URLs, the absolute path
 * for local repositories.
 *
 * - the scheme, credentials, port, query and fragment are dropped and the host lower-cased
 *   (`https://user:tok@GitHub.com/o/r.git` → `github.com/o/r`);
 * - scp-style ssh URLs become `host/path` (`git@github.com:o/r.git` → `github.com/o/r`);
 * - local paths and `file://` URLs keep their path (`file:///tmp/x/repo.git` → `/tmp/x/repo`);
 * - a trailing `.git` and trailing slashes are removed, repeated slashes collapsed.
 *
 * The path keeps its case. Idempotent; never throws (blank input gives `''`).
 *
 * @param url - Any clone/web URL or local path.
 * @returns The normalized key.
 */
export function normalizeRepoUrl(url: string): string {
  const input = typeof url === 'string' ? url.trim() : '';
  if (input === '') return '';

  if (/^file:/i.test(input)) return tidyPath(fileUrlPath(input));
  if (input.startsWith('/') || input.startsWith('./') || input.startsWith('../')) return tidyPath(input);

  let host: string;
  let path: string;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(input);
  const scp = scheme ? null : /^(?:[^@/\s]+@)?([^:/\s]+):(.*)$/.exec(input);
  if (scheme) {
    [host, path] = splitUrl(input, scheme[0].length);
  } else if (scp) {
    host = scp[1];
    path = scp[2];
  } else {
    // Already scheme-less (`github.com/o/r`, perhaps from a previous normalization).
    const rest = stripCredentials(input);
    const slash = rest.indexOf('/');
    host = slash === -1 ? rest : rest.slice(0, slash);
    path = slash === -1 ? '' : rest.slice(slash);
  }

  host = host.toLowerCase();
  const cleanPath = tidyPath(path).replace(/^\/+/, '');
  return cleanPath === '' ? host : `${host}/${cleanPath}`;
}

/**
 * Decides whether a push belongs to a project, given the project's configured repository URL.
 *
 * True when the normalized project URL equals the normalized form of any of the push's clone
 * URLs, or equals the push's `fullName` (case-insensitively; for projects configured as just
 * `owner/repo`), or ends with `/` + `fullName` (case-insensitively; e.g. a local mirror
 * `/srv/git/owner/repo.git` or a URL whose owner/repo differs only in case).
 *
 * @param projectRepoUrl - The project's `repoUrl`.
 * @param push - The normalized push.
 * @returns Whether the push is for that repository.
 */
export function repoMatches(projectRepoUrl: string, push: PushEvent): boolean {
  const project = normalizeRepoUrl(projectRepoUrl);
  if (project === '') return false;

  for (const cloneUrl of push.repo.cloneUrls) {
    const candidate = normalizeRepoUrl(cloneUrl);
    if (candidate !== '' && candidate === project) return true;
  }

  const fullName = push.repo.fullName.trim().replace(/^\/+|\/+$/g, '').toLowerCase();
  if (fullName === '') return false;
  const lowered = project.toLowerCase();
  return lowered === fullName || lowered.endsWith(`/${fullName}`);
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function requireHeader(value: string | undefined, headerName: string): string {
  const trimmed = typeof value === 'string' ? value.trim() : '';
  if (trimmed === '') throw new WebhookPayloadError(`missing ${headerName} header`);
  return trimmed;
}

function ignored(eventName: string | undefined): WebhookParseResult {
  return { kind: 'ignored', reason: `event "${(eventName ?? '').trim()}" is not handled` };
}

/** Parses `body` with `schema`, turning zod issues into a {@link WebhookPayloadError}. */
function validate<T extends z.ZodType>(schema: T, body: unknown, what: string): z.output<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issues = result.error.issues.map(formatIssue);
  throw new WebhookPayloadError(`invalid ${what}: ${issues.join('; ')}`, issues);
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const problem = issue.code === 'invalid_type' ? `expected ${issue.expected}` : issue.message;
  return `${formatPath(issue.path)}: ${problem}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(body)';
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

function refParts(ref: string): { branch: string | null; tag: string | null } {
  if (ref.startsWith('refs/heads/')) return { branch: ref.slice('refs/heads/'.length) || null, tag: null };
  if (ref.startsWith('refs/tags/')) return { branch: null, tag: ref.slice('refs/tags/'.length) || null };
  return { branch: null, tag: null };
}

function nonEmpty(value: string | null | undefined): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** Builds an author, dropping blank and GitLab's `[REDACTED]` emails; `null` without any name. */
function makeAuthor(
  name: string | null | undefined,
  email: string | null | undefined,
  username: string | null | undefined,
): PushEvent['author'] {
  const displayName = nonEmpty(name) ?? nonEmpty(username);
  if (displayName === undefined) return null;
  const author: NonNullable<PushEvent['author']> = { name: displayName };
  const mail = nonEmpty(email);
  if (mail !== undefined && mail !== '[REDACTED]') author.email = mail;
  const user = nonEmpty(username);
  if (user !== undefined) author.username = user;
  return author;
}

function uniqueUrls(urls: ReadonlyArray<string | null | undefined>): string[] {
  const out: string[] = [];
  for (const url of urls) {
    if (typeof url === 'string' && url.trim() !== '' && !out.includes(url)) out.push(url);
  }
  return out;
}

/** Collapses repeated slashes, then strips trailing slashes and one trailing `.git`. */
function tidyPath(path: string): string {
  let p = path.replace(/\/{2,}/g, '/').replace(/\/+$/, '');
  if (/\.git$/i.test(p)) p = p.slice(0, -4).replace(/\/+$/, '');
  return p;
}

function fileUrlPath(input: string): string {
  try {
    return decodeURIComponent(new URL(input).pathname);
  } catch {
    return input.replace(/^file:(?:\/\/[^/]*)?/i, '');
  }
}

function stripCredentials(authorityAndPath: string): string {
  const slash = authorityAndPath.indexOf('/');
  const authority = slash === -1 ? authorityAndPath : authorityAndPath.slice(0, slash);
  const at = authority.lastIndexOf('@');
  return at === -1 ? authorityAndPath : authorityAndPath.slice(at + 1);
}

/** Splits `scheme://[creds@]host[:port]/path` into host (no port) and path. */
function splitUrl(input: string, schemeLength: number): [string, string] {
  try {
    const parsed = new URL(input);
    if (parsed.hostname !== '') return [parsed.hostname, parsed.pathname];
  } catch {
    // fall through to the lenient split below
  }
  const rest = stripCredentials(input.slice(schemeLength)).replace(/[?#].*$/, '');
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  return [authority.replace(/:\d*$/, ''), path];
}
