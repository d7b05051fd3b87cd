import { MigrationInterface, QueryRunner } from 'typeorm';

function schema(q: QueryRunner): string {
  return `"${(q.connection.options as { schema?: string }).schema ?? 'public'}"`;
}

/** The api read model, version 1. */
export class ApiReadModel1700000000001 implements MigrationInterface {
  name = 'ApiReadModel1700000000001';
  async up(q: QueryRunner): Promise<void> {
    const s = schema(q);
    await q.query(`CREATE TABLE IF NOT EXISTS ${s}.projection_checkpoints (name text PRIMARY KEY, seq bigint NOT NULL)`);
    await q.query(`CREATE TABLE ${s}.projects (
      id text PRIMARY KEY, name text NOT NULL, repo_url text NOT NULL, provider text NOT NULL,
      branches jsonb, concurrency int NOT NULL, created_at timestamptz NOT NULL)`);
    await q.query(`CREATE TABLE ${s}.builds (
      id text PRIMARY KEY, project_id text NOT NULL, status text NOT NULL, branch text,
      requested_at timestamptz NOT NULL, state jsonb NOT NULL, last_seq bigint NOT NULL)`);
    await q.query(`CREATE INDEX builds_project_order ON ${s}.builds (project_id, requested_at DESC, id DESC)`);
    await q.query(`CREATE TABLE ${s}.workers (
      id text PRIMARY KEY, status text NOT NULL, driver text NOT NULL, build_id text, reason text,
      updated_at timestamptz NOT NULL)`);
  }
  async down(q: QueryRunner): Promise<void> {
    const s = schema(q);
    await q.query(`DROP TABLE ${s}.workers; DROP TABLE ${s}.builds; DROP TABLE ${s}.projects`);
  }
}

/** Version 2: projects can auto-cancel superseded builds. */
export class ProjectAutoCancel1700000000002 implements MigrationInterface {
  name = 'ProjectAutoCancel1700000000002';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schema(q)}.projects ADD COLUMN auto_cancel boolean NOT NULL DEFAULT false`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schema(q)}.projects DROP COLUMN auto_cancel`);
  }
}

export const apiMigrations = [ApiReadModel1700000000001, ProjectAutoCancel1700000000002];
