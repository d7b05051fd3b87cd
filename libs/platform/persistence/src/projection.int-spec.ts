import 'reflect-metadata';
import { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { testDatabaseUrl, testNamespace } from '@kiln/testing';
import { dropSchema, openDataSource } from './data-source';
import { applyOnce, checkpointOf, ProjectionTx } from './projection';

/** A one-table read model: each applied event appends its sequence to a row. */
class TestReadModel1700000000001 implements MigrationInterface {
  name = 'TestReadModel1700000000001';
  async up(q: QueryRunner): Promise<void> {
    const s = `"${(q.connection.options as { schema?: string }).schema}"`;
    await q.query(`CREATE TABLE ${s}.projection_checkpoints (name text PRIMARY KEY, seq bigint NOT NULL)`);
    await q.query(`CREATE TABLE ${s}.applied (id text PRIMARY KEY, seqs jsonb NOT NULL)`);
  }
  async down(): Promise<void> {}
}

describe('applyOnce, on real PostgreSQL', () => {
  const schema = testNamespace('proj');
  let ds: DataSource;
  let n = 0;
  /** A projection name of its own per test, so each starts without a checkpoint. */
  const fresh = () => `p${++n}`;

  /** The projection under test: appends `seq` to the row `id`. */
  const append = (id: string, seq: number) => async (tx: ProjectionTx) => {
    await tx.query(
      `INSERT INTO ${tx.table('applied')} (id, seqs) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET seqs = ${tx.table('applied')}.seqs || EXCLUDED.seqs`,
      [id, JSON.stringify([seq])],
    );
  };
  const seqsOf = async (id: string): Promise<number[]> => ((await ds.query(`SELECT seqs FROM "${schema}".applied WHERE id = $1`, [id])) as { seqs: number[] }[])[0]?.seqs ?? [];

  beforeAll(async () => {
    ds = await openDataSource({ url: testDatabaseUrl(), schema, entities: [], migrations: [TestReadModel1700000000001] });
  });

  afterAll(async () => {
    await ds?.destroy();
    await dropSchema(testDatabaseUrl(), schema);
  });

  it('creates the checkpoint on the first event, applies events above it and skips those at or below it', async () => {
    const name = fresh();
    expect(await checkpointOf(ds, name)).toBe(0);
    expect(await applyOnce(ds, name, 1, append(name, 1))).toBe(true);
    expect(await checkpointOf(ds, name)).toBe(1);
    expect(await applyOnce(ds, name, 1, append(name, 1))).toBe(false); // duplicate delivery
    expect(await applyOnce(ds, name, 4, append(name, 4))).toBe(true); // a gap (other subjects' events) is fine
    expect(await applyOnce(ds, name, 3, append(name, 3))).toBe(false); // late, below the checkpoint
    expect(await applyOnce(ds, name, 4, append(name, 4))).toBe(false);
    expect(await seqsOf(name)).toEqual([1, 4]);
    expect(await checkpointOf(ds, name)).toBe(4);
  });

  it('replaying a whole stream changes nothing', async () => {
    const name = fresh();
    for (let seq = 1; seq <= 20; seq++) await applyOnce(ds, name, seq, append(name, seq));
    const before = await seqsOf(name);
    const replayed = [];
    for (let seq = 1; seq <= 20; seq++) replayed.push(await applyOnce(ds, name, seq, append(name, seq)));
    expect(replayed.every((applied) => !applied)).toBe(true);
    expect(await seqsOf(name)).toEqual(before);
    expect(await checkpointOf(ds, name)).toBe(20);
  });

  it('does not call apply for a skipped event', async () => {
    const name = fresh();
    await applyOnce(ds, name, 2, append(name, 2));
    const apply = jest.fn(async () => undefined);
    expect(await applyOnce(ds, name, 2, apply)).toBe(false);
    expect(apply).not.toHaveBeenCalled();
  });

  it('rolls back the rows and the checkpoint when apply throws; the redelivery applies it', async () => {
    const name = fresh();
    await applyOnce(ds, name, 1, append(name, 1));
    const failing = async (tx: ProjectionTx) => {
      await append(name, 2)(tx);
      throw new Error('projection failed');
    };
    // more failures than the pool has connections: none may go back to the pool inside a transaction
    for (let i = 0; i < 12; i++) await expect(applyOnce(ds, name, 2, failing)).rejects.toThrow('projection failed');
    expect(await checkpointOf(ds, name)).toBe(1);
    expect(await seqsOf(name)).toEqual([1]);
    expect(await applyOnce(ds, name, 2, append(name, 2))).toBe(true);
    expect(await seqsOf(name)).toEqual([1, 2]);
  });

  it('rolls back when a statement of apply fails in PostgreSQL', async () => {
    const name = fresh();
    const bad = async (tx: ProjectionTx) => {
      await append(name, 1)(tx);
      await tx.query(`SELECT no_such_column FROM ${tx.table('applied')}`);
    };
    for (let i = 0; i < 12; i++) await expect(applyOnce(ds, name, 1, bad)).rejects.toThrow(/no_such_column/);
    expect(await checkpointOf(ds, name)).toBe(0);
    expect(await seqsOf(name)).toEqual([]);
    const [{ n: open }] = (await ds.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%' AND query LIKE '%${schema}%'`)) as { n: number }[];
    expect(open).toBe(0);
  });

  it('applies an event once when replicas deliver it at the same time', async () => {
    const name = fresh();
    const other = await openDataSource({ url: testDatabaseUrl(), schema, entities: [], migrations: [TestReadModel1700000000001] });
    try {
      for (let seq = 1; seq <= 10; seq++) {
        const results = await Promise.all([ds, other, ds, other].map((d) => applyOnce(d, name, seq, append(name, seq))));
        expect(results.filter(Boolean)).toHaveLength(1);
      }
      expect(await seqsOf(name)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(await checkpointOf(ds, name)).toBe(10);
    } finally {
      await other.destroy();
    }
  });

  it('commits without waiting for the WAL flush (a read model is rebuilt from the streams), only in its own transaction', async () => {
    let inside = '';
    await applyOnce(ds, 'sync-commit', 1, async (tx) => {
      inside = (await tx.query<{ synchronous_commit: string }>('SHOW synchronous_commit'))[0].synchronous_commit;
    });
    expect(inside).toBe('off');
    expect((await ds.query('SHOW synchronous_commit'))[0].synchronous_commit).toBe('on');
  });

  it('refuses a sequence that is not a positive integer', async () => {
    await expect(applyOnce(ds, fresh(), 0, append('x', 0))).rejects.toThrow(/not a positive integer/);
    await expect(applyOnce(ds, fresh(), 1.5, append('x', 1))).rejects.toThrow(/not a positive integer/);
  });
});
