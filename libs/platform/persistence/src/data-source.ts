import { Client } from 'pg';
import { DataSource, EntitySchema, MixedList } from 'typeorm';
import { ProjectionCheckpoint } from './checkpoint.entity';

export interface DataSourceOptions {
  url: string;
  /** PostgreSQL schema of this installation (the namespace): read models of test runs never mix. */
  schema: string;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>;
}

/**
 * Creates the schema if needed, connects TypeORM to it and runs pending migrations.
 * Throws an error naming the URL (without password) when PostgreSQL does not answer.
 */
export async function openDataSource(opts: DataSourceOptions): Promise<DataSource> {
  const client = new Client({ connectionString: opts.url });
  try {
    await client.connect();
  } catch (e) {
    throw new Error(`cannot connect to PostgreSQL at ${redact(opts.url)} (${(e as Error).message}); set DATABASE_URL or start PostgreSQL`, { cause: e });
  }
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${opts.schema}"`);
  } catch (e) {
    // a concurrent CREATE SCHEMA from another replica is fine
    if (!/already exists|duplicate key/.test((e as Error).message)) throw e;
  } finally {
    await client.end();
  }
  const ds = new DataSource({
    type: 'postgres',
    url: opts.url,
    schema: opts.schema,
    entities: [ProjectionCheckpoint, ...(opts.entities as unknown[])] as DataSourceOptions['entities'],
    migrations: opts.migrations,
    migrationsTableName: 'kiln_migrations',
    migrationsRun: false,
    synchronize: false,
    extra: { max: 10 },
  });
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  return ds;
}

/** Drops a schema and everything in it (tests; "drop the read model and rebuild it"). */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
