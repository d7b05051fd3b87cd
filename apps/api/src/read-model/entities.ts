import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { Build } from '@kiln/domain';

const bigint = { to: (v: number) => v, from: (v: string | null) => (v === null ? null : Number(v)) };

/** A project as the API lists it (no secret). */
@Entity({ name: 'projects' })
export class ProjectRow {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text', name: 'repo_url' }) repoUrl!: string;
  @Column({ type: 'text' }) provider!: string;
  @Column({ type: 'jsonb', nullable: true }) branches!: string[] | null;
  @Column({ type: 'int' }) concurrency!: number;
  @Column({ type: 'boolean', name: 'auto_cancel', default: false }) autoCancel!: boolean;
  @Column({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
}

/** A build: filter columns plus the full folded state. */
@Entity({ name: 'builds' })
@Index('builds_project_order', ['projectId', 'requestedAt', 'id'])
export class BuildRow {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text', name: 'project_id' }) projectId!: string;
  @Column({ type: 'text' }) status!: string;
  @Column({ type: 'text', nullable: true }) branch!: string | null;
  @Column({ type: 'timestamptz', name: 'requested_at' }) requestedAt!: Date;
  @Column({ type: 'jsonb' }) state!: Build;
  /** Stream sequence of the last event applied to this row. */
  @Column({ type: 'bigint', name: 'last_seq', transformer: bigint }) lastSeq!: number;
}

/** A worker of the pool. */
@Entity({ name: 'workers' })
export class WorkerRow {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) status!: string;
  @Column({ type: 'text' }) driver!: string;
  @Column({ type: 'text', name: 'build_id', nullable: true }) buildId!: string | null;
  @Column({ type: 'text', nullable: true }) reason!: string | null;
  @Column({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}
