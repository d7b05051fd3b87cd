import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BuildEvent, ProjectEvent, Recorded, WorkerEvent } from '@kiln/contracts';
import { Build, buildDecider, workerDecider, Worker } from '@kiln/domain';
import { applyOnce } from '@kiln/persistence';
import { READ_DB } from './read-db';

export const Projections = { builds: 'api.builds', projects: 'api.projects', workers: 'api.workers' } as const;

/** A jsonb parameter: node-postgres would send a JS array as a PostgreSQL array, and null must stay SQL NULL. */
const jsonb = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));

/**
 * The api's projections: pure folds of events into rows (the deciders' `evolve`), each
 * applied with its checkpoint in one transaction, so a replay changes nothing and the
 * whole read model can be dropped and rebuilt from the streams. They run once per event,
 * so they write plain SQL (columns as in `entities.ts`): one read of the row, one upsert.
 */
@Injectable()
export class ReadModelProjections {
  constructor(@Inject(READ_DB) private readonly ds: DataSource) {}

  async build(e: Recorded<BuildEvent>): Promise<void> {
    await applyOnce(this.ds, Projections.builds, e.seq, async (tx) => {
      const builds = tx.table('builds');
      const id = e.data.buildId;
      const [row] = await tx.query<{ state: Build }>(`SELECT state FROM ${builds} WHERE id = $1`, [id]);
      const state = buildDecider.evolve(row?.state ?? buildDecider.initialState(), e);
      if (state.status === 'none') return;
      await tx.query(
        `INSERT INTO ${builds} (id, project_id, status, branch, requested_at, state, last_seq) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET project_id = EXCLUDED.project_id, status = EXCLUDED.status, branch = EXCLUDED.branch,
           requested_at = EXCLUDED.requested_at, state = EXCLUDED.state, last_seq = EXCLUDED.last_seq`,
        [id, state.projectId, state.status === 'requested' ? 'queued' : state.status, state.source.branch, state.requestedAt, jsonb(state), e.seq],
      );
    });
  }

  async project(e: Recorded<ProjectEvent>): Promise<void> {
    await applyOnce(this.ds, Projections.projects, e.seq, async (tx) => {
      const projects = tx.table('projects');
      switch (e.type) {
        case 'ProjectCreated': {
          const d = e.data;
          await tx.query(
            `INSERT INTO ${projects} (id, name, repo_url, provider, branches, concurrency, auto_cancel, created_at) VALUES ($1, $2, $3, $4, $5, $6, false, $7)
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, repo_url = EXCLUDED.repo_url, provider = EXCLUDED.provider,
               branches = EXCLUDED.branches, concurrency = EXCLUDED.concurrency, auto_cancel = EXCLUDED.auto_cancel, created_at = EXCLUDED.created_at`,
            [d.projectId, d.name, d.repoUrl, d.provider, jsonb(d.branches), d.concurrency, d.createdAt],
          );
          break;
        }
        case 'ProjectSettingsChanged': {
          const d = e.data;
          const set: [column: string, value: unknown][] = [];
          if (d.concurrency !== undefined) set.push(['concurrency', d.concurrency]);
          if (d.branches !== undefined) set.push(['branches', jsonb(d.branches)]);
          if (d.autoCancel !== undefined) set.push(['auto_cancel', d.autoCancel]);
          if (!set.length) break;
          await tx.query(
            `UPDATE ${projects} SET ${set.map(([c], i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1`,
            [d.projectId, ...set.map(([, v]) => v)],
          );
          break;
        }
        case 'ProjectDeleted':
          // gone from lists and lookups; its builds' rows stay (history)
          await tx.query(`DELETE FROM ${projects} WHERE id = $1`, [e.data.projectId]);
          break;
      }
    });
  }

  async worker(e: Recorded<WorkerEvent>): Promise<void> {
    await applyOnce(this.ds, Projections.workers, e.seq, async (tx) => {
      const workers = tx.table('workers');
      const id = e.data.workerId;
      const [row] = await tx.query<{ status: string; driver: string; build_id: string | null; reason: string | null }>(
        `SELECT status, driver, build_id, reason FROM ${workers} WHERE id = $1`,
        [id],
      );
      const prev: Worker = row
        ? { status: row.status as 'warm', workerId: id, driver: row.driver, job: null, reason: row.reason, provisionedAt: '', warmAt: null }
        : workerDecider.initialState();
      const state = workerDecider.evolve(prev, e);
      if (state.status === 'none') return;
      await tx.query(
        `INSERT INTO ${workers} (id, status, driver, build_id, reason, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, driver = EXCLUDED.driver, build_id = EXCLUDED.build_id,
           reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at`,
        [id, state.status, state.driver, state.status === 'leased' ? (state.job?.buildId ?? null) : (row?.build_id ?? null), state.reason, e.meta.occurredAt],
      );
    });
  }
}
