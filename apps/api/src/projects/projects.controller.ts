import { randomBytes } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { KilnNames, newId, NotFoundError, Provider, Providers } from '@kiln/contracts';
import { encryptSecret, KilnConfig } from '@kiln/config';
import { CacheStore } from '@kiln/build-cache';
import { Aggregates, createAggregate, EventStore } from '@kiln/event-store';
import { AGGREGATES, CONFIG, LOGGER, NAMES } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { CACHE_STORE } from '../caches/caches.module';
import { ProjectRow } from '../read-model/entities';
import { READ_DB } from '../read-model/read-db';
import { validate } from '../validation';

export const CreateProject = z.object({
  name: z.string().trim().min(1).max(200),
  repoUrl: z.string().trim().min(1).max(2000),
  provider: z.enum(Providers),
  webhookSecret: z.string().min(8, 'at least 8 characters').max(500),
  branches: z.array(z.string().min(1)).nullable().optional(),
  concurrency: z.number().int().min(1).max(100).optional(),
  autoCancel: z.boolean().optional(),
});

export const ChangeSettings = z
  .object({
    concurrency: z.number().int().min(1).max(100).optional(),
    branches: z.array(z.string().min(1)).nullable().optional(),
    autoCancel: z.boolean().optional(),
  })
  .strict();

/** Longest grace a rotation may give the replaced webhook secret: a week. */
export const MAX_WEBHOOK_SECRET_GRACE_SECONDS = 7 * 24 * 3600;

export const RotateWebhookSecret = z
  .object({
    /** The new secret; default: 32 random bytes, base64url. */
    secret: z.string().min(8, 'at least 8 characters').max(500).optional(),
    /** How long the replaced secret is still accepted; default `KILN_WEBHOOK_SECRET_GRACE`; 0 revokes it at once (e.g. it leaked). */
    graceSeconds: z.number().int().min(0).max(MAX_WEBHOOK_SECRET_GRACE_SECONDS).optional(),
  })
  .strict();

export function projectView(row: ProjectRow) {
  return {
    id: row.id,
    name: row.name,
    repoUrl: row.repoUrl,
    provider: row.provider,
    branches: row.branches,
    concurrency: row.concurrency,
    autoCancel: row.autoCancel,
    createdAt: row.createdAt.toISOString(),
  };
}

@Controller('api/projects')
export class ProjectsController {
  constructor(
    private readonly store: EventStore,
    @Inject(AGGREGATES) private readonly aggs: Aggregates,
    @Inject(NAMES) private readonly names: KilnNames,
    @Inject(CONFIG) private readonly cfg: KilnConfig,
    @Inject(READ_DB) private readonly db: DataSource,
    @Inject(CACHE_STORE) private readonly cache: CacheStore,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  /** What the user pastes into the git host's webhook settings. */
  private webhook(provider: Provider, secret: string) {
    return {
      url: `${this.cfg.publicUrl}/webhooks/${provider}`,
      secret,
      contentType: 'application/json',
      events: provider === 'github' ? ['push'] : ['Push Hook', 'Tag Push Hook'],
    };
  }

  /** The project's subject; an id no subject can carry is a project that does not exist. */
  private subject(id: string): string {
    try {
      return this.names.subjects.project(id);
    } catch {
      throw new NotFoundError(`project ${id} not found`);
    }
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown) {
    const input = validate(CreateProject, body);
    const projectId = newId();
    const data = {
      projectId,
      name: input.name,
      repoUrl: input.repoUrl,
      provider: input.provider,
      webhookSecret: encryptSecret(this.cfg.secretKey, input.webhookSecret),
      branches: input.branches ?? null,
      concurrency: input.concurrency ?? this.cfg.projectConcurrency,
      createdAt: new Date().toISOString(),
    };
    await createAggregate(this.store, this.aggs.project, this.names.subjects.project(projectId), { type: 'CreateProject', data }, { correlationId: projectId });
    if (input.autoCancel) {
      await this.store.handle(this.aggs.project, this.names.subjects.project(projectId), { type: 'ChangeProjectSettings', projectId, settings: { autoCancel: true }, now: data.createdAt }, { correlationId: projectId });
    }
    return {
      id: projectId,
      name: data.name,
      repoUrl: data.repoUrl,
      provider: data.provider,
      branches: data.branches,
      concurrency: data.concurrency,
      autoCancel: input.autoCancel ?? false,
      createdAt: data.createdAt,
      webhook: this.webhook(data.provider, input.webhookSecret),
    };
  }

  /**
   * Replaces the webhook secret (generated unless the body gives one) and answers it once,
   * like create. Until `previousSecretValidUntil` deliveries signed with the replaced secret
   * are still accepted, so none in flight is lost while the user updates the git host.
   */
  @Post(':id/webhook-secret/rotate')
  @HttpCode(200)
  async rotateWebhookSecret(@Param('id') id: string, @Body() body: unknown) {
    const input = validate(RotateWebhookSecret, body);
    const secret = input.secret ?? randomBytes(32).toString('base64url');
    const graceMs = input.graceSeconds !== undefined ? input.graceSeconds * 1000 : this.cfg.webhookSecretGraceMs;
    const now = new Date().toISOString();
    const r = await this.store.handle(
      this.aggs.project,
      this.subject(id),
      { type: 'RotateWebhookSecret', projectId: id, webhookSecret: encryptSecret(this.cfg.secretKey, secret), graceMs, now },
      { correlationId: id },
    );
    if (r.state.status !== 'active') throw new NotFoundError(`project ${id} not found`);
    return { id, rotatedAt: now, previousSecretValidUntil: r.state.previousWebhookSecret?.validUntil ?? null, webhook: this.webhook(r.state.provider, secret) };
  }

  /**
   * Deletes the project (admin tokens only, like every write). Its webhooks are refused from
   * then on, the scheduler cancels its unfinished builds, it leaves the lists; the history of
   * its builds stays readable. Its build-cache entries are evicted (best effort).
   */
  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id') id: string): Promise<void> {
    await this.store.handle(this.aggs.project, this.subject(id), { type: 'DeleteProject', projectId: id, now: new Date().toISOString() }, { correlationId: id });
    try {
      const entries = await this.cache.list(id);
      for (const e of entries) await this.cache.evict(id, e.key);
      if (entries.length) this.log.info('evicted the build cache of a deleted project', { projectId: id, entries: entries.length });
    } catch (e) {
      this.log.warn('could not evict the build cache of a deleted project; unused entries age out', { projectId: id, err: e as Error });
    }
  }

  /** Changes concurrency, branch filters or auto-cancel of superseded builds. */
  @Patch(':id')
  async change(@Param('id') id: string, @Body() body: unknown) {
    const settings = validate(ChangeSettings, body);
    const r = await this.store.handle(this.aggs.project, this.subject(id), { type: 'ChangeProjectSettings', projectId: id, settings, now: new Date().toISOString() }, { correlationId: id });
    if (r.state.status !== 'active') throw new NotFoundError(`project ${id} not found`);
    const { projectId, name, repoUrl, provider, branches, concurrency, autoCancel, createdAt } = r.state;
    return { id: projectId, name, repoUrl, provider, branches, concurrency, autoCancel: autoCancel ?? false, createdAt };
  }

  @Get()
  async list() {
    const rows = await this.db.getRepository(ProjectRow).find({ order: { createdAt: 'ASC' } });
    return { items: rows.map(projectView) };
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    const row = await this.db.getRepository(ProjectRow).findOne({ where: { id } });
    if (!row) throw new NotFoundError(`project ${id} not found`);
    return projectView(row);
  }
}
