import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { KilnNames, newId, NotFoundError, Providers } from '@kiln/contracts';
import { encryptSecret, KilnConfig } from '@kiln/config';
import { Aggregates, createAggregate, EventStore } from '@kiln/event-store';
import { AGGREGATES, CONFIG, NAMES } from '@kiln/service-kit';
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
  ) {}

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
      webhook: {
        url: `${this.cfg.publicUrl}/webhooks/${data.provider}`,
        secret: input.webhookSecret,
        contentType: 'application/json',
        events: data.provider === 'github' ? ['push'] : ['Push Hook', 'Tag Push Hook'],
      },
    };
  }

  /** Changes concurrency, branch filters or auto-cancel of superseded builds. */
  @Patch(':id')
  async change(@Param('id') id: string, @Body() body: unknown) {
    const settings = validate(ChangeSettings, body);
    const r = await this.store.handle(this.aggs.project, this.names.subjects.project(id), { type: 'ChangeProjectSettings', projectId: id, settings, now: new Date().toISOString() }, { correlationId: id });
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
