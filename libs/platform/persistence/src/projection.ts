import { DataSource, EntityManager } from 'typeorm';
import { ProjectionCheckpoint } from './checkpoint.entity';

/** The stream sequence a projection has applied up to (0 when it never ran). */
export async function checkpointOf(ds: DataSource, name: string): Promise<number> {
  const row = await ds.getRepository(ProjectionCheckpoint).findOne({ where: { name } });
  return row?.seq ?? 0;
}

/**
 * Applies one event to a projection: in one transaction, lock the checkpoint, skip the
 * event if it is at or below it (a replay), else run `apply` and advance the checkpoint.
 * Returns false when skipped.
 */
export async function applyOnce(ds: DataSource, name: string, seq: number, apply: (m: EntityManager) => Promise<void>): Promise<boolean> {
  return ds.transaction(async (m) => {
    await m.query(`INSERT INTO ${m.connection.driver.escape(schemaOf(ds))}.projection_checkpoints (name, seq) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, [name]);
    const [cp] = (await m.query(
      `SELECT seq FROM ${m.connection.driver.escape(schemaOf(ds))}.projection_checkpoints WHERE name = $1 FOR UPDATE`,
      [name],
    )) as { seq: string }[];
    if (Number(cp.seq) >= seq) return false;
    await apply(m);
    await m.query(`UPDATE ${m.connection.driver.escape(schemaOf(ds))}.projection_checkpoints SET seq = $2 WHERE name = $1`, [name, seq]);
    return true;
  });
}

function schemaOf(ds: DataSource): string {
  return (ds.options as { schema?: string }).schema ?? 'public';
}
