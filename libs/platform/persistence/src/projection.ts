import type { PoolClient, QueryResult } from 'pg';
import { DataSource } from 'typeorm';
import { ProjectionCheckpoint } from './checkpoint.entity';

/** The stream sequence a projection has applied up to (0 when it never ran). */
export async function checkpointOf(ds: DataSource, name: string): Promise<number> {
  const row = await ds.getRepository(ProjectionCheckpoint).findOne({ where: { name } });
  return row?.seq ?? 0;
}

/**
 * What a projection's `apply` writes with: parameterised SQL inside the transaction that
 * advanced its checkpoint. Projections run once per event, so they write plain SQL (a read
 * of the row, an upsert) rather than entities: TypeORM's `findOne` + `save` took several
 * round trips and most of the CPU an event cost.
 */
export interface ProjectionTx {
  /** Runs one statement with `$1…` parameters; the rows it returns (RETURNING included). */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** `"schema"."table"`: a table of this installation's schema (the namespace). */
  table(name: string): string;
}

/**
 * Applies one event to a projection exactly once: in one transaction, advance the
 * checkpoint to `seq` if it is below (taking its row lock, so replicas sharing a durable
 * consumer serialise here), run `apply`, commit. An event at or below the checkpoint (a
 * replay, a redelivery) changes nothing. If `apply` throws, the transaction rolls back and
 * the checkpoint stays where it was. Returns false when skipped.
 *
 * The guard is one upsert: it creates the checkpoint row on a projection's first event
 * (also after the read model was dropped), and its `WHERE` makes it a no-op (0 rows) when
 * the event was applied already. It travels with `BEGIN` in one simple query (its
 * two values inlined: an escaped literal and a checked integer), saving a round trip per event.
 *
 * The commit does not wait for the WAL flush (`synchronous_commit` off for this transaction
 * only): a read model is rebuilt from the streams, and the checkpoint commits with the rows
 * it guards, so a PostgreSQL crash can only lose the last few transactions whole, which the
 * consumer then delivers again. It saves a disk flush per event on the host that starts builds.
 */
export async function applyOnce(ds: DataSource, name: string, seq: number, apply: (tx: ProjectionTx) => Promise<void>): Promise<boolean> {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`applyOnce(${name}): stream sequence ${seq} is not a positive integer`);
  const schema = ds.driver.escape(schemaOf(ds));
  const qr = ds.createQueryRunner('master');
  // the pooled node-postgres client itself: one round trip per statement, no per-query TypeORM overhead
  const client = (await qr.connect()) as PoolClient;
  const tx: ProjectionTx = {
    query: async <R>(sql: string, params?: readonly unknown[]) => (await client.query({ text: sql, values: params as unknown[] })).rows as R[],
    table: (t) => `${schema}.${ds.driver.escape(t)}`,
  };
  try {
    const results = (await client.query(
      `BEGIN; SET LOCAL synchronous_commit TO OFF;
       INSERT INTO ${schema}.projection_checkpoints AS cp (name, seq) VALUES (${client.escapeLiteral(name)}, ${seq})
       ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq WHERE cp.seq < EXCLUDED.seq`,
    )) as unknown as QueryResult[];
    const advanced = results[2].rowCount === 1;
    if (advanced) await apply(tx);
    await client.query('COMMIT');
    return advanced;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    await qr.release();
  }
}

function schemaOf(ds: DataSource): string {
  return (ds.options as { schema?: string }).schema ?? 'public';
}
