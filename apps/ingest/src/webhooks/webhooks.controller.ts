import { Controller, Headers, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { InvalidError } from '@kiln/contracts';
import { decryptSecret, KilnConfig } from '@kiln/config';
import { acceptedWebhookSecrets } from '@kiln/domain';
import { CONFIG, LOGGER } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { ActiveProject, ProjectDirectory } from '../projects/project-directory';
import { BuildRequests, PushOutcome } from './build-requests';
import { verifyGithubSignature } from './github-signature';
import { verifyGitlabToken } from './gitlab-token';
import { parseGithubEvent, parseGitlabEvent, repoMatches, normalizeRepoUrl, WebhookPayloadError, WebhookParseResult } from './push-event';

/**
 * Webhook endpoints. The signature (GitHub) or token (GitLab) of the matching project is
 * the authentication. Order of checks: body readable (413/400) → project known (404) →
 * signature valid (401) → event handled (202/200). Nothing is appended unless all pass.
 */
@Controller('webhooks')
export class WebhooksController {
  constructor(
    private readonly projects: ProjectDirectory,
    private readonly builds: BuildRequests,
    @Inject(CONFIG) private readonly cfg: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  @Post('github')
  @HttpCode(202)
  async github(
    @Req() req: Request,
    @Res() res: Response,
    @Headers('x-github-event') event: string | undefined,
    @Headers('x-github-delivery') delivery: string | undefined,
    @Headers('x-hub-signature-256') signature: string | undefined,
  ) {
    const raw = rawBody(req);
    const body = parseJson(raw);
    const repo = repoOfGithub(body);
    const { candidates, verified } = await this.authenticate('github', repo, (s) => verifyGithubSignature(s, raw, signature));
    if (!candidates.length) return this.notFound(res, 'github', repo);
    if (!verified.length) {
      return res.status(401).json({ error: 'unauthorized', message: signature ? 'X-Hub-Signature-256 does not match the project secret' : 'missing X-Hub-Signature-256 header' });
    }
    const parsed = parse(() => parseGithubEvent(event, body));
    if (!delivery) throw new InvalidError('missing X-GitHub-Delivery header');
    return this.respond(res, parsed, verified, delivery);
  }

  @Post('gitlab')
  @HttpCode(202)
  async gitlab(
    @Req() req: Request,
    @Res() res: Response,
    @Headers('x-gitlab-event') event: string | undefined,
    @Headers('x-gitlab-token') token: string | undefined,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Headers('x-gitlab-webhook-uuid') webhookUuid: string | undefined,
    @Headers('x-gitlab-event-uuid') eventUuid: string | undefined,
  ) {
    const raw = rawBody(req);
    const body = parseJson(raw);
    const repo = repoOfGitlab(body);
    const { candidates, verified } = await this.authenticate('gitlab', repo, (s) => verifyGitlabToken(s, token));
    if (!candidates.length) return this.notFound(res, 'gitlab', repo);
    if (!verified.length) {
      return res.status(401).json({ error: 'unauthorized', message: token ? 'X-Gitlab-Token does not match the project secret' : 'missing X-Gitlab-Token header' });
    }
    const parsed = parse(() => parseGitlabEvent(event, body));
    const delivery = idempotencyKey || webhookUuid || eventUuid;
    if (!delivery) throw new InvalidError('missing Idempotency-Key or X-Gitlab-Webhook-UUID header');
    return this.respond(res, parsed, verified, delivery);
  }

  private async respond(res: Response, parsed: WebhookParseResult, projects: ActiveProject[], delivery: string) {
    if (parsed.kind === 'ping') return res.status(200).json({ ok: true, ping: true, zen: parsed.zen ?? null });
    if (parsed.kind === 'ignored') return res.status(202).json({ ignored: true, reason: parsed.reason });
    const outcomes: PushOutcome[] = [];
    for (const p of projects) outcomes.push(await this.builds.fromPush(p, parsed.push, delivery));
    const requested = outcomes.filter((o) => o.kind === 'requested');
    if (!requested.length) {
      return res.status(202).json({ ignored: true, reason: outcomes.map((o) => (o.kind === 'ignored' ? o.reason : '')).join('; ') });
    }
    return res.status(202).json({
      buildId: requested[0].buildId,
      duplicate: requested.every((o) => o.duplicate),
      builds: requested.map((o) => ({ buildId: o.buildId, projectId: o.projectId, duplicate: o.duplicate })),
    });
  }

  /**
   * The projects of the repository, and those among them whose webhook secret `signedWith`
   * accepts. When none accepts, the directory syncs with the stream once and checks again:
   * the secret may have been rotated a moment ago.
   */
  private async authenticate(provider: 'github' | 'gitlab', repo: RepoRef, signedWith: (secret: string) => boolean) {
    const match = (p: ActiveProject) => p.provider === provider && repoMatchesAny(p.repoUrl, repo);
    const check = (ps: ActiveProject[]) => ps.filter((p) => this.secretsOf(p).some(signedWith));
    let candidates = await this.projects.find(match);
    let verified = check(candidates);
    if (candidates.length && !verified.length) {
      await this.projects.sync();
      candidates = await this.projects.find(match);
      verified = check(candidates);
    }
    return { candidates, verified };
  }

  /**
   * The webhook secrets a delivery for this project may be signed with now: the current one
   * and, during the grace period after a rotation, the one it replaced. A secret that cannot
   * be decrypted with this key is left out (never matches).
   */
  private secretsOf(p: ActiveProject): string[] {
    const out: string[] = [];
    for (const sealed of acceptedWebhookSecrets(p, new Date().toISOString())) {
      try {
        out.push(decryptSecret(this.cfg.secretKey, sealed));
      } catch {
        this.log.error('cannot decrypt the webhook secret of a project (was KILN_SECRET_KEY changed?)', { projectId: p.projectId });
      }
    }
    return out;
  }

  /** 404: no project for the repository; says so when it was deleted. */
  private notFound(res: Response, provider: 'github' | 'gitlab', repo: RepoRef) {
    const gone = this.projects.deleted((p) => p.provider === provider && repoMatchesAny(p.repoUrl, repo));
    if (gone.length) {
      const list = gone.map((p) => `${p.projectId} (deleted ${p.deletedAt})`).join(', ');
      return res.status(404).json({ error: 'not_found', message: `the project for repository ${repo.names[0]} was deleted: ${list}; remove this webhook from the git host` });
    }
    return res.status(404).json({ error: 'not_found', message: `no project for repository ${repo.names[0]} (${normalizeRepoUrl(repo.names[1] ?? repo.names[0])})` });
  }
}

interface RepoRef {
  names: string[];
}

function rawBody(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

function parseJson(raw: Buffer): unknown {
  if (!raw.length) throw new InvalidError('empty request body');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new InvalidError(`malformed JSON body: ${(e as Error).message}`);
  }
}

function parse(fn: () => WebhookParseResult): WebhookParseResult {
  try {
    return fn();
  } catch (e) {
    if (e instanceof WebhookPayloadError) throw new InvalidError(e.message);
    throw e;
  }
}

function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
}

function strings(...vs: unknown[]): string[] {
  return vs.filter((v): v is string => typeof v === 'string' && v.length > 0);
}

function repoOfGithub(body: unknown): RepoRef {
  const r = obj(obj(body).repository);
  const names = strings(r.full_name, r.clone_url, r.ssh_url, r.html_url, r.git_url, r.url);
  if (!names.length) throw new InvalidError('payload has no repository (repository.full_name / repository.clone_url)');
  return { names };
}

function repoOfGitlab(body: unknown): RepoRef {
  const p = obj(obj(body).project);
  const r = obj(obj(body).repository);
  const names = strings(p.path_with_namespace, p.git_http_url, p.git_ssh_url, p.web_url, r.git_http_url, r.url);
  if (!names.length) throw new InvalidError('payload has no project (project.path_with_namespace / project.git_http_url)');
  return { names };
}

function repoMatchesAny(projectRepoUrl: string, repo: RepoRef): boolean {
  const [fullName, ...urls] = repo.names;
  return repoMatches(projectRepoUrl, {
    provider: 'github',
    repo: { fullName, cloneUrls: urls.length ? urls : [fullName] },
    ref: '',
    branch: null,
    tag: null,
    sha: '',
    deleted: false,
    author: null,
    message: null,
  });
}
