import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { Attr, BuildStatuses, InvalidError, KilnNames, newId, NotFoundError } from '@kiln/contracts';
import { Aggregates, endLogOf, EventStore, requestBuild } from '@kiln/event-store';
import { AGGREGATES, NAMES } from '@kiln/service-kit';
import { BuildRow } from '../read-model/entities';
import { READ_DB } from '../read-model/read-db';
import { validate } from '../validation';
import { buildView } from './build-view';
import { isActive, loadOr404 } from '../aggregates/load-or-404';

export const TriggerBuild = z.object({
  ref: z.string().min(1).default('refs/heads/main'),
  sha: z.string().regex(/^[0-9a-f]{7,64}$/, 'a hex commit sha').optional(),
});

export const CancelBuild = z.object({ reason: z.string().max(500).optional() });

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().optional(),
  status: z.enum(BuildStatuses).optional(),
  branch: z.string().optional(),
});

/** Keyset cursor over (requested_at, id), newest first. */
function encodeCursor(row: BuildRow): string {
  return Buffer.from(JSON.stringify([row.requestedAt.toISOString(), row.id])).toString('base64url');
}
function decodeCursor(c: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8'));
    if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'string') return [v[0], v[1]];
  } catch {
    /* fall through */
  }
  throw new InvalidError(`invalid cursor "${c}"`);
}

@Controller('api')
export class BuildsController {
  constructor(
    private readonly store: EventStore,
    @Inject(AGGREGATES) private readonly aggs: Aggregates,
    @Inject(NAMES) private readonly names: KilnNames,
    @Inject(READ_DB) private readonly db: DataSource,
  ) {}

  @Get('projects/:id/builds')
  async list(@Param('id') projectId: string, @Query() query: unknown) {
    const q = validate(ListQuery, query);
    const qb = this.db.getRepository(BuildRow).createQueryBuilder('b').where('b.project_id = :projectId', { projectId });
    if (q.status) qb.andWhere('b.status = :status', { status: q.status });
    if (q.branch) qb.andWhere('b.branch = :branch', { branch: q.branch });
    if (q.cursor) {
      const [at, id] = decodeCursor(q.cursor);
      qb.andWhere('(b.requested_at, b.id) < (:at, :id)', { at, id });
    }
    const rows = await qb.orderBy('b.requested_at', 'DESC').addOrderBy('b.id', 'DESC').limit(q.limit + 1).getMany();
    const page = rows.slice(0, q.limit);
    return {
      items: page.map((r) => buildView(r.state as never)),
      nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]) : null,
    };
  }

  @Post('projects/:id/builds')
  @HttpCode(202)
  async trigger(@Param('id') projectId: string, @Body() body: unknown) {
    const input = validate(TriggerBuild, body);
    const project = await loadOr404(this.store, this.aggs.project, this.names.subjects.project, 'project', projectId, isActive);
    const repoUrl = project.state.repoUrl;
    const buildId = newId();
    const ref = input.ref.startsWith('refs/') ? input.ref : `refs/heads/${input.ref}`;
    const branch = ref.startsWith('refs/heads/') ? ref.slice(11) : null;
    const source = { repoUrl, ref, sha: input.sha ?? null, branch, author: null, message: null };
    await requestBuild(this.store, this.aggs, this.names, { buildId, projectId, trigger: 'manual', deliveryId: null, source }, { span: 'api.trigger' });
    return { buildId };
  }

  /** The build as its events fold it, read from the stream (always current). */
  @Get('builds/:id')
  async get(@Param('id') id: string) {
    const loaded = await this.load(id);
    return buildView(loaded.state);
  }

  @Get('builds/:id/events')
  async events(@Param('id') id: string) {
    const loaded = await this.load(id);
    return {
      items: loaded.events.map((e) => ({ seq: e.seq, type: e.type, version: e.version, data: e.data, meta: e.meta })),
    };
  }

  /** Builds the same commit again: a new build (trigger `retry`) of the resolved sha. */
  @Post('builds/:id/retry')
  @HttpCode(202)
  async retry(@Param('id') id: string) {
    const old = (await this.load(id)).state;
    const project = (await this.store.load(this.aggs.project, this.names.subjects.project(old.projectId))).state;
    if (project.status === 'deleted') throw new NotFoundError(`project ${old.projectId} was deleted at ${project.deletedAt}: its builds cannot be retried`);
    const buildId = newId();
    await requestBuild(
      this.store,
      this.aggs,
      this.names,
      { buildId, projectId: old.projectId, trigger: 'retry', deliveryId: null, source: old.source },
      { span: 'api.retry', attributes: { [Attr.retryOf]: id }, causationId: id },
    );
    return { buildId, retryOf: id };
  }

  @Post('builds/:id/cancel')
  @HttpCode(202)
  async cancel(@Param('id') id: string, @Body() body: unknown) {
    const { reason } = validate(CancelBuild, body);
    await this.load(id);
    const r = await this.store.handle(this.aggs.build, this.names.subjects.build(id), { type: 'CancelBuild', reason: reason ?? 'cancelled by user', now: new Date().toISOString() }, { correlationId: id });
    // a build no agent ran has no one else to close its log for live readers
    if (r.appended.some((e) => e.type === 'BuildCancelled') && r.state.status === 'cancelled') {
      await endLogOf(this.store.js, this.names, id, r.state.attempt, 'cancelled');
    }
    return buildView(r.state as never);
  }

  private load(id: string) {
    return loadOr404(this.store, this.aggs.build, this.names.subjects.build, 'build', id);
  }
}
