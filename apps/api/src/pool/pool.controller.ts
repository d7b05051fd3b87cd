import { Controller, Get, Inject } from '@nestjs/common';
import { DataSource, Not, In } from 'typeorm';
import { KilnConfig } from '@kiln/config';
import { CONFIG } from '@kiln/service-kit';
import { WorkerRow } from '../read-model/entities';
import { READ_DB } from '../read-model/read-db';

@Controller('api/pool')
export class PoolController {
  constructor(
    @Inject(READ_DB) private readonly db: DataSource,
    @Inject(CONFIG) private readonly cfg: KilnConfig,
  ) {}

  /** Live workers (not retired or lost) with counts by status. */
  @Get()
  async pool() {
    const rows = await this.db.getRepository(WorkerRow).find({ where: { status: Not(In(['retired', 'lost'])) }, order: { updatedAt: 'ASC' } });
    const counts: Record<string, number> = {};
    for (const r of rows) counts[r.status] = (counts[r.status] ?? 0) + 1;
    return {
      minWarm: this.cfg.poolMinWarm,
      maxWorkers: this.cfg.poolMaxWorkers,
      counts,
      workers: rows.map((r) => ({ id: r.id, status: r.status, driver: r.driver, buildId: r.buildId, updatedAt: r.updatedAt.toISOString() })),
    };
  }
}
