import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BuildEvent, ProjectEvent, Recorded, WorkerEvent } from '@kiln/contracts';
import { buildDecider, workerDecider, Worker } from '@kiln/domain';
import { applyOnce } from '@kiln/persistence';
import { BuildRow, ProjectRow, WorkerRow } from './entities';
import { READ_DB } from './read-db';

export const Projections = { builds: 'api.builds', projects: 'api.projects', workers: 'api.workers' } as const;

/**
 * The api's projections: pure folds of events into rows (the deciders' `evolve`), each
 * applied with its checkpoint in one transaction, so a replay changes nothing and the
 * whole read model can be dropped and rebuilt from the streams.
 */
@Injectable()
export class ReadModelProjections {
  constructor(@Inject(READ_DB) private readonly ds: DataSource) {}

  async build(e: Recorded<BuildEvent>): Promise<void> {
    await applyOnce(this.ds, Projections.builds, e.seq, async (m) => {
      const id = e.data.buildId;
      const row = await m.findOne(BuildRow, { where: { id } });
      const state = buildDecider.evolve(row?.state ?? buildDecider.initialState(), e);
      if (state.status === 'none') return;
      await m.save(BuildRow, {
        id,
        projectId: state.projectId,
        status: state.status === 'requested' ? 'queued' : state.status,
        branch: state.source.branch,
        requestedAt: new Date(state.requestedAt),
        state,
        lastSeq: e.seq,
      });
    });
  }

  async project(e: Recorded<ProjectEvent>): Promise<void> {
    await applyOnce(this.ds, Projections.projects, e.seq, async (m) => {
      switch (e.type) {
        case 'ProjectCreated': {
          const d = e.data;
          await m.save(ProjectRow, {
            id: d.projectId,
            name: d.name,
            repoUrl: d.repoUrl,
            provider: d.provider,
            branches: d.branches,
            concurrency: d.concurrency,
            autoCancel: false,
            createdAt: new Date(d.createdAt),
          });
          break;
        }
        case 'ProjectSettingsChanged': {
          const d = e.data;
          const patch: Partial<ProjectRow> = {};
          if (d.concurrency !== undefined) patch.concurrency = d.concurrency;
          if (d.branches !== undefined) patch.branches = d.branches;
          if (d.autoCancel !== undefined) patch.autoCancel = d.autoCancel;
          if (Object.keys(patch).length) await m.update(ProjectRow, { id: d.projectId }, patch);
          break;
        }
        case 'ProjectDeleted':
          // gone from lists and lookups; its builds' rows stay (history)
          await m.delete(ProjectRow, { id: e.data.projectId });
          break;
      }
    });
  }

  async worker(e: Recorded<WorkerEvent>): Promise<void> {
    await applyOnce(this.ds, Projections.workers, e.seq, async (m) => {
      const id = e.data.workerId;
      const row = await m.findOne(WorkerRow, { where: { id } });
      const prev: Worker = row
        ? { status: row.status as 'warm', workerId: id, driver: row.driver, job: null, reason: row.reason, provisionedAt: '', warmAt: null }
        : workerDecider.initialState();
      const state = workerDecider.evolve(prev, e);
      if (state.status === 'none') return;
      await m.save(WorkerRow, {
        id,
        status: state.status,
        driver: state.driver,
        buildId: state.status === 'leased' ? (state.job?.buildId ?? null) : (row?.buildId ?? null),
        reason: state.reason,
        updatedAt: new Date(e.meta.occurredAt),
      });
    });
  }
}
