import { KilnConfig } from '@kiln/config';
import { openDataSource } from '@kiln/persistence';
import { BuildRow, ProjectRow, WorkerRow } from './entities';
import { apiMigrations } from './migrations';

export const READ_DB = Symbol('READ_DB');

export function openReadDb(cfg: KilnConfig) {
  return openDataSource({
    url: cfg.databaseUrl,
    schema: cfg.namespace,
    entities: [ProjectRow, BuildRow, WorkerRow],
    migrations: apiMigrations,
  });
}
